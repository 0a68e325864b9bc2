//! A fixed pool of worker threads, written by hand.
//!
//! Its jobs are the pieces of work that would block an event loop (a
//! password hash, a database query, opening a file): the loops hand them
//! over through a [`PoolHandle`], and [`QueueDepth`] counts those waiting
//! for a worker.
//!
//! [`ThreadPool::finish_within`] lets the jobs in flight finish but gives up
//! waiting at a deadline (graceful shutdown). It learns that every worker
//! has exited the way mini-redis does: each worker
//! holds a sender of a channel nobody sends on, and the receiver hears
//! "disconnected" when the last one is dropped.
//!
//! `execute` puts a job (a closure) into a channel; every worker loops:
//! take the next job, run it, repeat. When the pool is dropped, the channel
//! closes, each worker finishes the job it is running and exits, and `Drop`
//! waits for all of them (joins), so no work is cut off halfway.
//!
//! Why a fixed pool and not a thread per job? A thread costs a stack
//! (reserved, mostly not touched) and a trip through the kernel to create;
//! a few thousand of them make the scheduler the bottleneck, and a client
//! who sends requests in a loop could make us create threads without
//! limit. A fixed pool puts a number on what we are willing to spend.

use std::convert::Infallible;
use std::panic::{self, AssertUnwindSafe};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::mpsc::{self, Receiver, RecvTimeoutError, Sender};
use std::sync::{Arc, Mutex, PoisonError};
use std::thread::{self, JoinHandle};
use std::time::Instant;

/// A unit of work: any closure we can send to another thread and run once.
type Job = Box<dyn FnOnce() + Send + 'static>;

// ANCHOR: pool
/// A fixed number of threads running the jobs given to [`ThreadPool::execute`].
pub struct ThreadPool {
    /// `None` once we start shutting down: dropping the sender closes the
    /// channel, which is how workers learn there will be no more jobs.
    sender: Option<Sender<Job>>,
    workers: Vec<JoinHandle<()>>,
    /// Never receives anything: every worker holds a sender of this channel
    /// and drops it when it exits, so "disconnected" means "every worker
    /// has exited" (the way mini-redis waits for its connections).
    workers_exited: Receiver<Infallible>,
    /// Jobs given to the pool that no worker has taken yet.
    queued: QueueDepth,
}

// ANCHOR: queue_depth
/// How many jobs wait for a worker: a shared counter, up when a job is
/// queued, down when a worker takes it. Anyone holding a clone can read it
/// (the `/metrics` page does).
#[derive(Debug, Clone, Default)]
pub struct QueueDepth(Arc<AtomicUsize>);

impl QueueDepth {
    pub fn get(&self) -> usize {
        self.0.load(Ordering::Relaxed)
    }
}
// ANCHOR_END: queue_depth

impl ThreadPool {
    /// Starts `size` workers (at least one).
    pub fn new(size: usize) -> ThreadPool {
        let (sender, receiver) = mpsc::channel::<Job>();
        // One receiver, shared: a Mutex makes sure each job goes to exactly
        // one worker; an Arc lets every worker hold a handle to it.
        let receiver = Arc::new(Mutex::new(receiver));
        let (exited, workers_exited) = mpsc::channel::<Infallible>();
        let queued = QueueDepth::default();
        let workers = (0..size.max(1))
            .map(|id| {
                let receiver = Arc::clone(&receiver);
                let exited = exited.clone();
                let queued = queued.clone();
                thread::Builder::new()
                    .name(format!("worker-{id}"))
                    .spawn(move || {
                        run_worker(id, &receiver, &queued);
                        drop(exited);
                    })
                    .expect("the operating system lets us start a worker thread")
            })
            .collect();
        ThreadPool {
            sender: Some(sender),
            workers,
            workers_exited,
            queued,
        }
    }

    /// A handle that queues jobs on this pool, for an event loop to keep.
    /// The pool still shuts down with [`ThreadPool::finish_within`]: once
    /// every handle is dropped too, the workers run out of jobs and exit.
    pub fn handle(&self) -> PoolHandle {
        PoolHandle {
            sender: self.sender.clone(),
            queued: self.queued.clone(),
        }
    }

    /// Queues `job` for the next free worker. Never blocks: if every worker
    /// is busy, the job waits in the channel.
    pub fn execute(&self, job: impl FnOnce() + Send + 'static) {
        send_job(self.sender.as_ref(), &self.queued, Box::new(job));
    }

    /// A handle on the number of jobs waiting for a worker.
    pub fn queue_depth(&self) -> QueueDepth {
        self.queued.clone()
    }

    /// How many workers this pool runs.
    pub fn size(&self) -> usize {
        self.workers.len()
    }

    // ANCHOR: finish_within
    /// Closes the channel (no new jobs), lets the workers finish the jobs
    /// already given, and waits for them until `deadline`. Returns `true` if
    /// every worker finished in time. Workers still busy at the deadline are
    /// left running, unjoined: the process is about to exit, which ends them.
    pub fn finish_within(mut self, deadline: Instant) -> bool {
        drop(self.sender.take());
        let patience = deadline.saturating_duration_since(Instant::now());
        // Wakes up when the last worker drops its sender, or at the deadline:
        // no polling.
        match self.workers_exited.recv_timeout(patience) {
            Err(RecvTimeoutError::Disconnected) => {
                for worker in self.workers.drain(..) {
                    let _ = worker.join();
                }
                true
            }
            Err(RecvTimeoutError::Timeout) => {
                // Dropping a JoinHandle detaches its thread; `Drop` below
                // then has nothing left to wait for.
                self.workers.clear();
                false
            }
            Ok(nothing) => match nothing {},
        }
    }
    // ANCHOR_END: finish_within
}
// ANCHOR_END: pool

/// Queues jobs on a [`ThreadPool`] from another thread (an event loop).
#[derive(Clone)]
pub struct PoolHandle {
    sender: Option<Sender<Job>>,
    queued: QueueDepth,
}

impl PoolHandle {
    /// Queues `job` for the next free worker, like [`ThreadPool::execute`].
    pub fn execute(&self, job: impl FnOnce() + Send + 'static) {
        send_job(self.sender.as_ref(), &self.queued, Box::new(job));
    }
}

/// Counts `job` as queued and sends it to the workers (unless the pool is
/// shutting down and `sender` is gone).
fn send_job(sender: Option<&Sender<Job>>, queued: &QueueDepth, job: Job) {
    if let Some(sender) = sender {
        // Count it before sending, so a worker that takes it at once
        // never brings the count below zero.
        queued.0.fetch_add(1, Ordering::Relaxed);
        if sender.send(job).is_err() {
            // Every worker has exited (the pool was dropped): it never runs.
            queued.0.fetch_sub(1, Ordering::Relaxed);
        }
    }
}

// ANCHOR: run_worker
/// The life of one worker: take a job, run it, repeat until the channel closes.
fn run_worker(id: usize, receiver: &Mutex<Receiver<Job>>, queued: &QueueDepth) {
    loop {
        // The lock guard is a temporary of this one statement, so the lock is
        // released *before* the job runs. (Writing
        // `while let Ok(job) = receiver.lock().expect("…").recv()` instead keeps
        // the guard alive for the whole loop body: then only one job runs at
        // a time, however many workers there are. See the test
        // `n_slow_jobs_on_n_workers_take_about_as_long_as_one`.)
        let next = receiver
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .recv();
        let Ok(job) = next else {
            return; // The channel is closed: the pool is shutting down.
        };
        queued.0.fetch_sub(1, Ordering::Relaxed);
        // A panicking job must not take its worker down with it: catch the
        // panic here, report it, and go back for the next job.
        if panic::catch_unwind(AssertUnwindSafe(job)).is_err() {
            eprintln!("worker-{id}: a job panicked; the worker carries on");
        }
    }
}
// ANCHOR_END: run_worker

// ANCHOR: drop
impl Drop for ThreadPool {
    /// Closes the channel, then waits for every worker to finish its job.
    fn drop(&mut self) {
        drop(self.sender.take());
        for worker in self.workers.drain(..) {
            // A worker that panicked outside a job has nothing left to join.
            let _ = worker.join();
        }
    }
}
// ANCHOR_END: drop

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::atomic::{AtomicUsize, Ordering};
    use std::sync::Barrier;
    use std::time::Duration;

    /// How long one slow job takes.
    const SLOW: Duration = Duration::from_millis(200);

    #[test]
    fn n_slow_jobs_on_n_workers_take_about_as_long_as_one() {
        let workers = 4;
        let pool = ThreadPool::new(workers);
        let started = Instant::now();
        let (done, finished) = mpsc::channel();
        for _ in 0..workers {
            let done = done.clone();
            pool.execute(move || {
                thread::sleep(SLOW);
                done.send(()).expect("the test is still listening");
            });
        }
        for _ in 0..workers {
            finished.recv().expect("every job reports back");
        }
        let ratio = started.elapsed().as_secs_f64() / SLOW.as_secs_f64();
        // In parallel the ratio is about 1; if the jobs ran one at a time (the
        // lock held across the job) it would be about 4. Anything below 2
        // means they overlapped; the margin absorbs a busy machine.
        assert!(ratio < 2.0, "{workers} jobs took {ratio:.1}× one job");
    }

    #[test]
    fn every_worker_really_runs_at_the_same_time() {
        // Stronger than timing: a barrier that only opens when all four jobs
        // are running at once. A pool that runs jobs one by one would never
        // get past it, so we wait with a timeout instead of forever.
        let workers = 4;
        let pool = ThreadPool::new(workers);
        let barrier = Arc::new(Barrier::new(workers + 1));
        for _ in 0..workers {
            let barrier = Arc::clone(&barrier);
            pool.execute(move || {
                barrier.wait();
            });
        }
        let (opened, wait) = mpsc::channel();
        thread::spawn(move || {
            barrier.wait();
            let _ = opened.send(());
        });
        if wait.recv_timeout(Duration::from_secs(5)).is_err() {
            // Dropping the pool would wait forever for the worker stuck at
            // the barrier; leak it so that the test fails instead of hanging.
            std::mem::forget(pool);
            panic!("the jobs never all ran at the same time");
        }
    }

    #[test]
    fn a_panicking_job_kills_neither_its_worker_nor_the_pool() {
        let pool = ThreadPool::new(2);
        for _ in 0..4 {
            pool.execute(|| panic!("a handler bug"));
        }
        let counter = Arc::new(AtomicUsize::new(0));
        for _ in 0..10 {
            let counter = Arc::clone(&counter);
            pool.execute(move || {
                counter.fetch_add(1, Ordering::SeqCst);
            });
        }
        drop(pool); // waits for every job
        assert_eq!(counter.load(Ordering::SeqCst), 10);
    }

    #[test]
    fn dropping_the_pool_waits_for_running_jobs_to_finish() {
        let pool = ThreadPool::new(3);
        let counter = Arc::new(AtomicUsize::new(0));
        for _ in 0..6 {
            let counter = Arc::clone(&counter);
            pool.execute(move || {
                thread::sleep(Duration::from_millis(20));
                counter.fetch_add(1, Ordering::SeqCst);
            });
        }
        drop(pool);
        assert_eq!(counter.load(Ordering::SeqCst), 6);
    }

    #[test]
    fn finish_within_waits_for_quick_jobs_and_gives_up_on_stuck_ones() {
        let pool = ThreadPool::new(2);
        pool.execute(|| thread::sleep(Duration::from_millis(50)));
        assert!(pool.finish_within(Instant::now() + Duration::from_secs(5)));

        let pool = ThreadPool::new(2);
        pool.execute(|| thread::sleep(Duration::from_secs(60)));
        let started = Instant::now();
        assert!(!pool.finish_within(Instant::now() + Duration::from_millis(100)));
        assert!(started.elapsed() < Duration::from_secs(30), "it gave up");
    }

    #[test]
    fn a_pool_has_the_workers_asked_for_and_a_pool_of_zero_still_has_one() {
        assert_eq!(ThreadPool::new(3).size(), 3);
        assert_eq!(ThreadPool::new(0).size(), 1);
    }
}
