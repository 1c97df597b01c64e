use clap::Parser;
use tinykube_apiserver::Config;

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let config = Config::parse();
    tinykube_component_base::init_tracing()?;
    let shutdown = tinykube_component_base::shutdown_on_signals()?;
    tinykube_apiserver::run(config, shutdown).await?;
    Ok(())
}
