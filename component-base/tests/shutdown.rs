//! The shutdown token is cancelled by a real SIGTERM sent to this test process. This file holds
//! one test so that the signal cannot disturb another test running in the same process.

use std::time::Duration;

#[tokio::test]
async fn sigterm_cancels_the_shutdown_token() {
    let token = tinykube_component_base::shutdown_on_signals().unwrap();
    assert!(!token.is_cancelled());
    let status = tokio::process::Command::new("kill")
        .args(["-TERM", &std::process::id().to_string()])
        .status()
        .await
        .unwrap();
    assert!(status.success());
    tokio::time::timeout(Duration::from_secs(10), token.cancelled())
        .await
        .expect("SIGTERM did not cancel the token within 10 s");
}
