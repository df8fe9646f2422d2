//! The thread that owns a container: testcontainers' API is async, and a server is started,
//! stopped and removed from synchronous code that may itself run on the run's runtime (where
//! blocking on another runtime panics). So each container gets a thread with a runtime of its
//! own, and the [`DockerServer`](super::DockerServer) sends it commands and waits for the
//! answers. The container is removed when told, or when the server is dropped without telling.

use std::sync::Arc;
use std::sync::mpsc;
use std::time::{Duration, Instant};

use testcontainers::bollard::Docker;
use testcontainers::bollard::container::KillContainerOptions;
use testcontainers::core::{ExecCommand, IntoContainerPort, Mount};
use testcontainers::runners::AsyncRunner;
use testcontainers::{ContainerAsync, ContainerRequest, GenericImage, ImageExt};

use super::labels;
use crate::database::StopMode;
use crate::signal::Interrupt;

/// How long a container's server may take to accept a connection (initdb included).
const READY_WITHIN: Duration = Duration::from_secs(120);
/// How long a stopped server may take to exit before it is killed.
const EXIT_WITHIN: Duration = Duration::from_secs(30);

/// What to start.
pub(super) struct Request {
    pub(crate) image: String,
    pub(crate) env: Vec<(String, String)>,
    pub(crate) cmd: Vec<String>,
    pub(crate) labels: Vec<(String, String)>,
    /// Host network (else the default bridge, with `port` mapped to the server's 5432).
    pub(crate) host_network: bool,
    pub(crate) port: u16,
    pub(crate) tmpfs: bool,
    /// How to connect once it runs, to tell that it is ready.
    pub(crate) config: tokio_postgres::Config,
    pub(crate) interrupt: Arc<Interrupt>,
}

enum Command {
    Stop(StopMode, mpsc::Sender<Result<(), String>>),
    Start(mpsc::Sender<Result<(), String>>),
    Exec(Vec<String>, mpsc::Sender<Result<(i64, String), String>>),
    Remove(mpsc::Sender<()>),
}

/// A started container and the thread that owns it.
#[derive(Debug)]
pub(super) struct Worker {
    commands: Option<mpsc::Sender<Command>>,
    thread: Option<std::thread::JoinHandle<()>>,
}

/// What a started container is.
pub(super) struct Started {
    /// How many containers of dead runs were removed first.
    pub(crate) swept: usize,
}

impl Worker {
    /// Starts the container and waits until its server accepts a connection.
    pub(crate) fn start(request: Request) -> Result<(Worker, Started), String> {
        let (commands, inbox) = mpsc::channel();
        let (answer, started) = mpsc::channel();
        let thread = std::thread::Builder::new()
            .name("docker".into())
            .spawn(move || serve(request, answer, inbox))
            .map_err(|e| format!("cannot start a thread: {e}"))?;
        let worker = Worker {
            commands: Some(commands),
            thread: Some(thread),
        };
        match started.recv() {
            Ok(Ok(s)) => Ok((worker, s)),
            Ok(Err(e)) => Err(e),
            Err(_) => Err("the container's thread ended at start".into()),
        }
    }

    fn ask<T>(&self, make: impl FnOnce(mpsc::Sender<T>) -> Command) -> Option<T> {
        let (tx, rx) = mpsc::channel();
        self.commands.as_ref()?.send(make(tx)).ok()?;
        rx.recv().ok()
    }

    pub(crate) fn stop(&self, mode: StopMode) -> Result<(), String> {
        self.ask(|tx| Command::Stop(mode, tx))
            .unwrap_or_else(|| Err("the container is gone".into()))
    }

    pub(crate) fn start_again(&self) -> Result<(), String> {
        self.ask(Command::Start)
            .unwrap_or_else(|| Err("the container is gone".into()))
    }

    /// Runs a command in the container: its exit code and output.
    pub(crate) fn exec(&self, cmd: Vec<String>) -> Result<(i64, String), String> {
        self.ask(|tx| Command::Exec(cmd, tx))
            .unwrap_or_else(|| Err("the container is gone".into()))
    }

    /// Removes the container (force, with its volumes) and ends the thread.
    pub(crate) fn remove(&mut self) {
        let _ = self.ask(Command::Remove);
        self.commands = None;
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

impl Drop for Worker {
    fn drop(&mut self) {
        self.remove();
    }
}

/// The thread: start, answer, then obey until told to remove it (or nobody can tell any more).
fn serve(
    request: Request,
    answer: mpsc::Sender<Result<Started, String>>,
    inbox: mpsc::Receiver<Command>,
) {
    let rt = match tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            let _ = answer.send(Err(format!("cannot start a runtime: {e}")));
            return;
        }
    };
    let docker = match Docker::connect_with_local_defaults() {
        Ok(d) => d,
        Err(e) => {
            let _ = answer.send(Err(format!("cannot reach the Docker engine: {e}")));
            return;
        }
    };
    let mut container = match rt.block_on(launch(&docker, &request)) {
        Ok((c, started)) => {
            let _ = answer.send(Ok(started));
            c
        }
        Err(e) => {
            let _ = answer.send(Err(e));
            return;
        }
    };
    while let Ok(command) = inbox.recv() {
        match command {
            Command::Remove(done) => {
                rt.block_on(remove(container.take()));
                let _ = done.send(());
                return;
            }
            other => rt.block_on(obey(other, container.as_ref(), &docker, &request)),
        }
    }
    rt.block_on(remove(container.take()));
}

async fn remove(container: Option<ContainerAsync<GenericImage>>) {
    if let Some(c) = container {
        let _ = c.rm().await;
    }
}

async fn obey(
    command: Command,
    c: Option<&ContainerAsync<GenericImage>>,
    docker: &Docker,
    request: &Request,
) {
    let Some(c) = c else { return };
    match command {
        Command::Stop(mode, tx) => {
            let _ = tx.send(stop(c, docker, mode).await);
        }
        Command::Start(tx) => {
            let started = match c.start().await {
                Ok(()) => ready(c, docker, request).await.map(|_| ()),
                Err(e) => Err(format!("cannot start container {}: {e}", c.id())),
            };
            let _ = tx.send(started);
        }
        Command::Exec(cmd, tx) => {
            let _ = tx.send(exec(c, cmd).await);
        }
        Command::Remove(_) => {}
    }
}

/// Sweeps containers of dead runs, creates and starts ours, waits until it is ready.
async fn launch(
    docker: &Docker,
    r: &Request,
) -> Result<(Option<ContainerAsync<GenericImage>>, Started), String> {
    let swept = labels::sweep(docker).await?;
    let container = request(r)
        .start()
        .await
        .map_err(|e| format!("cannot start a container of {}: {e}", r.image))?;
    match ready(&container, docker, r).await {
        Ok(()) => Ok((Some(container), Started { swept })),
        Err(e) => {
            let _ = container.rm().await;
            Err(e)
        }
    }
}

/// The container request: image, environment, command, labels, network, port, tmpfs.
fn request(r: &Request) -> ContainerRequest<GenericImage> {
    let (name, tag) = split_image(&r.image);
    let mut req = GenericImage::new(name, tag).with_cmd(r.cmd.clone());
    for (k, v) in &r.env {
        req = req.with_env_var(k, v);
    }
    for (k, v) in &r.labels {
        req = req.with_label(k, v);
    }
    if r.host_network {
        req = req.with_network("host");
    } else {
        req = req.with_mapped_port(r.port, 5432.tcp());
    }
    if r.tmpfs {
        req = req.with_mount(Mount::tmpfs_mount("/var/lib/postgresql/data"));
    }
    req.with_startup_timeout(READY_WITHIN)
}

/// `name[:tag]`, where a `:` before the last `/` belongs to a registry's port.
pub(super) fn split_image(image: &str) -> (String, String) {
    let slash = image.rfind('/').map_or(0, |i| i + 1);
    match image[slash..].rfind(':') {
        Some(i) => (
            image[..slash + i].to_string(),
            image[slash + i + 1..].to_string(),
        ),
        None => (image.to_string(), "latest".to_string()),
    }
}

/// Waits until the server accepts a connection and answers a query (not until a log line
/// appears).
async fn ready(
    c: &ContainerAsync<GenericImage>,
    docker: &Docker,
    r: &Request,
) -> Result<(), String> {
    let deadline = Instant::now() + READY_WITHIN;
    loop {
        let attempt = tokio::time::timeout(
            Duration::from_secs(5),
            r.config.connect(tokio_postgres::NoTls),
        );
        if let Ok(Ok((client, connection))) = attempt.await {
            tokio::spawn(connection);
            return match client.query_one("SHOW server_version", &[]).await {
                Ok(_) => Ok(()),
                Err(e) => Err(format!(
                    "the container's server answered with an error: {e}"
                )),
            };
        }
        if r.interrupt.is_raised() {
            return Err("interrupted while the container started".into());
        }
        if running(docker, c.id()).await == Some(false) {
            return Err(format!(
                "the container of {} exited at start; its log:\n{}",
                r.image,
                log_tail(c).await
            ));
        }
        if Instant::now() > deadline {
            return Err(format!(
                "the container of {} did not accept a connection within {} s; its log:\n{}",
                r.image,
                READY_WITHIN.as_secs(),
                log_tail(c).await
            ));
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// The last lines of the container's output (the server logs on stderr).
async fn log_tail(c: &ContainerAsync<GenericImage>) -> String {
    let mut text =
        String::from_utf8_lossy(&c.stdout_to_vec().await.unwrap_or_default()).into_owned();
    text.push_str(&String::from_utf8_lossy(
        &c.stderr_to_vec().await.unwrap_or_default(),
    ));
    let lines: Vec<&str> = text.lines().collect();
    lines[lines.len().saturating_sub(20)..].join("\n")
}

/// `fast`: SIGINT to the server (PID 1); `immediate`: SIGQUIT; SIGKILL if it has not exited
/// within [`EXIT_WITHIN`].
async fn stop(
    c: &ContainerAsync<GenericImage>,
    docker: &Docker,
    mode: StopMode,
) -> Result<(), String> {
    let signal = match mode {
        StopMode::Fast => "SIGINT",
        StopMode::Immediate => "SIGQUIT",
    };
    for (signal, patience) in [(signal, EXIT_WITHIN), ("SIGKILL", EXIT_WITHIN)] {
        let options = KillContainerOptions { signal };
        docker
            .kill_container(c.id(), Some(options))
            .await
            .map_err(|e| format!("cannot signal container {}: {e}", c.id()))?;
        let deadline = Instant::now() + patience;
        while Instant::now() < deadline {
            if running(docker, c.id()).await == Some(false) {
                return Ok(());
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }
    Err(format!("container {} did not stop", c.id()))
}

/// Whether the container runs (`None` when the engine cannot tell).
async fn running(docker: &Docker, id: &str) -> Option<bool> {
    let state = docker.inspect_container(id, None).await.ok()?.state?;
    state.running
}

async fn exec(c: &ContainerAsync<GenericImage>, cmd: Vec<String>) -> Result<(i64, String), String> {
    let mut run = c
        .exec(ExecCommand::new(cmd))
        .await
        .map_err(|e| format!("cannot run a command in container {}: {e}", c.id()))?;
    let mut out =
        String::from_utf8_lossy(&run.stdout_to_vec().await.unwrap_or_default()).into_owned();
    out.push_str(&String::from_utf8_lossy(
        &run.stderr_to_vec().await.unwrap_or_default(),
    ));
    let mut code = run.exit_code().await.ok().flatten();
    for _ in 0..50 {
        if code.is_some() {
            break;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
        code = run.exit_code().await.ok().flatten();
    }
    Ok((code.unwrap_or(-1), out.trim().to_string()))
}

#[cfg(test)]
mod tests {
    use super::split_image;

    #[test]
    fn a_registry_port_is_not_a_tag() {
        let s = |i: &str| split_image(i);
        assert_eq!(s("postgres:16"), ("postgres".into(), "16".into()));
        assert_eq!(s("postgres"), ("postgres".into(), "latest".into()));
        assert_eq!(
            s("registry.local:5000/team/postgres"),
            ("registry.local:5000/team/postgres".into(), "latest".into())
        );
        assert_eq!(
            s("registry.local:5000/postgres:17"),
            ("registry.local:5000/postgres".into(), "17".into())
        );
    }
}
