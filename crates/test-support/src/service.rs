//! A service binary run as a child process, as the shutdown tests of the HTTP services run
//! theirs: started without keys and quiet, stopped by SIGTERM within a time limit.

use std::process::{Child, Command, ExitStatus, Stdio};
use std::time::{Duration, Instant};

/// How long a service may take to exit after SIGTERM.
pub const EXIT_WITHIN: Duration = Duration::from_secs(10);

/// The command that runs `binary` with authentication off, warnings only, stdout dropped and
/// stderr shown with the test's output; the caller adds the addresses and stores.
pub fn quiet_command(binary: &str) -> Command {
    let mut command = Command::new(binary);
    command
        .env("AUTH", "off")
        .env("RUST_LOG", "warn")
        .stdout(Stdio::null())
        .stderr(Stdio::inherit());
    command
}

/// Sends SIGTERM to `child` and waits for it to exit, polling so the test's other tasks (the
/// clients under load) keep running; panics when `name` still runs after [`EXIT_WITHIN`].
pub async fn terminate(child: &mut Child, name: &str) -> ExitStatus {
    let signalled = Instant::now();
    let killed = Command::new("kill")
        .args(["-TERM", &child.id().to_string()])
        .status()
        .expect("kill runs");
    assert!(killed.success());
    loop {
        if let Some(status) = child.try_wait().expect("status") {
            return status;
        }
        assert!(
            signalled.elapsed() < EXIT_WITHIN,
            "{name} still runs {EXIT_WITHIN:?} after SIGTERM"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}
