//! The actix-web peer: the stages' `GET /api/status` and `GET /health`,
//! served by actix-web with its defaults (one worker per core, keep-alive
//! for 5 s). Listens on `ADDR` (default 127.0.0.1:8090).

use actix_web::{web, App, HttpResponse, HttpServer};

const STATUS: &str = r#"{"service":"from-socket-to-ship","stage":"actix-web","status":"ok"}"#;

async fn status() -> HttpResponse {
    HttpResponse::Ok()
        .content_type("application/json")
        .body(STATUS)
}

async fn health() -> HttpResponse {
    HttpResponse::Ok()
        .content_type("text/plain; charset=utf-8")
        .body("ok\n")
}

fn main() -> std::io::Result<()> {
    let addr = std::env::var("ADDR").unwrap_or_else(|_| "127.0.0.1:8090".to_string());
    actix_web::rt::System::new().block_on(async move {
        let server = HttpServer::new(|| {
            App::new()
                .route("/api/status", web::get().to(status))
                .route("/health", web::get().to(health))
        })
        .bind(&addr)?;
        for local in server.addrs() {
            println!("listening on http://{local}");
        }
        server.run().await
    })
}
