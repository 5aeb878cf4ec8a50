//! A real imgis HTTP server on 127.0.0.1 (port 0), in-process, over a given store.

use std::net::SocketAddr;
use std::sync::Arc;

use imgis::app::{self, App};
use imgis::auth::{NewToken, Role, TokenSecret};
use imgis::config::{Config, StoreConfig};
use imgis::store::DynStore;

pub struct TestServer {
    pub addr: SocketAddr,
    pub app: Arc<App>,
    /// Sends an admin token with every request: tests not about access
    /// control act as the city's administrator.
    pub client: reqwest::Client,
    /// The admin token `client` sends.
    pub admin_token: String,
    /// Sends no token: the anonymous public.
    pub anonymous: reqwest::Client,
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
        let admin_token = make_token(&app, Role::Admin, None).await;
        let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
        let task = tokio::spawn(app::run(app.clone(), listener, async {
            stopped.await.ok();
        }));
        Self {
            addr,
            app,
            client: client_with_token(&admin_token),
            admin_token,
            anonymous: reqwest::Client::new(),
            stop: Some(stop),
            task: Some(task),
        }
    }

    /// A new token of `role` (and department), stored in the server's store.
    pub async fn token(&self, role: Role, department: Option<&str>) -> String {
        make_token(&self.app, role, department).await
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

/// Stores a new token of `role` and returns its secret.
pub async fn make_token(app: &App, role: Role, department: Option<&str>) -> String {
    let secret = TokenSecret::generate();
    let new = NewToken::new(&secret, role, department.map(str::to_owned), "tests".into())
        .expect("role and department go together");
    app.store()
        .create_token(&new)
        .await
        .expect("storing a test token");
    secret.expose().to_owned()
}

/// A client sending `Authorization: Bearer <token>` with every request.
pub fn client_with_token(token: &str) -> reqwest::Client {
    let mut headers = reqwest::header::HeaderMap::new();
    headers.insert(
        reqwest::header::AUTHORIZATION,
        format!("Bearer {token}")
            .parse()
            .expect("a token is a header value"),
    );
    reqwest::Client::builder()
        .default_headers(headers)
        .build()
        .expect("building a client")
}
