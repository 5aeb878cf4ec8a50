//! A real imgis HTTP server on 127.0.0.1 (port 0), in-process, over a given store.

use std::net::SocketAddr;
use std::sync::Arc;

use imgis::app::{self, App};
use imgis::config::{Config, StoreConfig};
use imgis::store::DynStore;

pub struct TestServer {
    pub addr: SocketAddr,
    pub app: Arc<App>,
    pub client: reqwest::Client,
    stop: Option<tokio::sync::oneshot::Sender<()>>,
    task: Option<tokio::task::JoinHandle<Result<(), app::AppError>>>,
}

/// The configuration tests start from: port 0, no demo, no tile archives.
pub fn test_config() -> Config {
    let mut config = Config::for_store(StoreConfig::Gpkg {
        path: "unused".into(),
    });
    config.tiles_dir = "/nonexistent/imgis-test-tiles".into();
    config
}

impl TestServer {
    /// Builds the index from `store` and serves it.
    pub async fn start(store: DynStore) -> Self {
        Self::start_with(test_config(), store).await
    }

    /// Serves `store` with a given configuration (start from [`test_config`]).
    pub async fn start_with(config: Config, store: DynStore) -> Self {
        let app = App::with_store(config, store)
            .await
            .expect("building the app");
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("binding port 0");
        let addr = listener.local_addr().expect("bound address");
        let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
        let task = tokio::spawn(app::run(app.clone(), listener, async {
            stopped.await.ok();
        }));
        Self {
            addr,
            app,
            client: reqwest::Client::new(),
            stop: Some(stop),
            task: Some(task),
        }
    }

    pub fn url(&self, path: &str) -> String {
        format!("http://{}{}", self.addr, path)
    }

    /// GET `path`, returning status and JSON body.
    pub async fn get_json(&self, path: &str) -> (u16, serde_json::Value) {
        let r = self
            .client
            .get(self.url(path))
            .send()
            .await
            .expect("request reaches the server");
        let status = r.status().as_u16();
        let body = r.json().await.expect("the answer is JSON");
        (status, body)
    }

    /// POST `body` as JSON to `path`, returning status and JSON body.
    pub async fn post_json(
        &self,
        path: &str,
        body: &serde_json::Value,
    ) -> (u16, serde_json::Value) {
        let r = self
            .client
            .post(self.url(path))
            .json(body)
            .send()
            .await
            .expect("request reaches the server");
        let status = r.status().as_u16();
        let body = r.json().await.expect("the answer is JSON");
        (status, body)
    }

    /// Stops the server gracefully and waits for it.
    pub async fn stop(mut self) {
        if let Some(s) = self.stop.take() {
            s.send(()).ok();
        }
        if let Some(t) = self.task.take() {
            t.await.expect("server task").expect("server stops cleanly");
        }
    }
}
