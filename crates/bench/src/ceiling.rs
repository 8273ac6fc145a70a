//! The ceiling for ingestion: the same request answered by a bare axum handler that parses the
//! JSON and answers 202, with nothing else (no validation, no Redis). It runs as its own
//! process, like ingestion, so both get the same share of the machine.

use axum::Router;
use axum::body::Bytes;
use axum::http::StatusCode;
use axum::routing::post;

pub async fn serve(addr: &str) -> anyhow::Result<()> {
    let listener = tokio::net::TcpListener::bind(addr).await?;
    let app = Router::new().route("/v1/events", post(accept));
    Ok(axum::serve(listener, app).await?)
}

async fn accept(body: Bytes) -> StatusCode {
    match serde_json::from_slice::<serde_json::Value>(&body) {
        Ok(_) => StatusCode::ACCEPTED,
        Err(_) => StatusCode::BAD_REQUEST,
    }
}
