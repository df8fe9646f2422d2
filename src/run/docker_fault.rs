//! `kill_backend` on a container: one of this run's backends is SIGKILLed inside the container
//! (`docker exec`), after a check there that its parent is the container's postmaster.

use super::fault_context::{Context, candidates};
use crate::database::ServerHandle;

/// SIGKILLs one of this run's backends in the container (one running a statement if any).
pub(super) async fn kill_backend(cx: &Context, server: ServerHandle) -> String {
    let candidates = match candidates(cx).await {
        Ok(c) => c,
        Err(e) => return e,
    };
    let Some((pid, state)) = candidates.first().cloned() else {
        return "not fired: none of this run's backends was connected".into();
    };
    let count = candidates.len();
    let killed = tokio::task::spawn_blocking(move || {
        let s = server.lock().expect("server lock");
        match s.docker() {
            Some(d) => d.kill_backend(pid),
            None => Err("the server is not a container".into()),
        }
    })
    .await;
    match killed {
        Ok(Ok(())) => format!(
            "killed backend {pid} ({state}), one of this run's {count}, with SIGKILL in the \
             container; the server resets every backend"
        ),
        Ok(Err(e)) => format!("not fired: {e}"),
        Err(_) => "not fired: the container could not be reached".into(),
    }
}
