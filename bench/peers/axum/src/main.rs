//! The axum peer: the stages' `GET /api/status` and `GET /health`, served by
//! axum on tokio's multi-threaded runtime with its default worker count (one
//! per core). Listens on `ADDR` (default 127.0.0.1:8090).

use axum::http::header::CONTENT_TYPE;
use axum::routing::get;
use axum::Router;

const STATUS: &str = r#"{"service":"from-socket-to-ship","stage":"axum","status":"ok"}"#;

#[tokio::main]
async fn main() {
    let addr = std::env::var("ADDR").unwrap_or_else(|_| "127.0.0.1:8090".to_string());
    let listener = tokio::net::TcpListener::bind(&addr)
        .await
        .unwrap_or_else(|error| panic!("cannot listen on {addr}: {error}"));
    let app = Router::new()
        .route(
            "/api/status",
            get(|| async { ([(CONTENT_TYPE, "application/json")], STATUS) }),
        )
        .route(
            "/health",
            get(|| async { ([(CONTENT_TYPE, "text/plain; charset=utf-8")], "ok\n") }),
        );
    let local = listener
        .local_addr()
        .expect("a bound listener has an address");
    println!("listening on http://{local}");
    axum::serve(listener, app)
        .await
        .expect("the server stopped");
}
