//! `analytics keys create|list|revoke`: managing API keys (docs/SECURITY.md). The keys live in Redis
//! (see `events_core::keys`), so these commands read `REDIS_URL` as the services do.

use std::io::Write;

use anyhow::Context;
use clap::{Args, Subcommand};
use events_core::config::RedisArgs;
use events_core::keys::store::KeyStore;
use events_core::keys::{KeyKind, NewKey};

/// The commands of the analytics binary besides serving.
#[derive(Debug, Clone, Subcommand)]
pub enum Command {
    /// Manage API keys: create, list, revoke.
    #[command(subcommand)]
    Keys(KeysCommand),
    /// Writes a consistent copy of the store (DATABASE_URL) to PATH while everything runs,
    /// and prints PATH and its size alone on the last line.
    Backup {
        /// A file that does not exist yet.
        path: std::path::PathBuf,
    },
    /// Deletes one visitor's events everywhere and corrects every summary; prints how many
    /// events it deleted, alone on the last line.
    Forget {
        /// The visitor's shop.
        #[arg(long = "shop")]
        shop: String,
        /// The visitor's id.
        #[arg(long = "visitor-id")]
        visitor_id: String,
    },
    /// Prints the OpenAPI 3.1 document of the API (what `/api/openapi.json` serves), indented;
    /// needs no store, Redis or running service.
    Openapi,
}

#[derive(Debug, Clone, Subcommand)]
pub enum KeysCommand {
    /// Creates a key and prints it once, alone on the last line (only its hash is kept).
    Create(CreateArgs),
    /// Prints every key's metadata, one JSON object a line; never a key.
    List,
    /// Revokes the key with this id; every service refuses it within 10 seconds.
    Revoke {
        /// The key's id, as `keys list` shows it (`key_…`).
        id: String,
    },
    /// The first start of an installation (docker compose): creates a write, a read and a
    /// public key for a shop and prints them once; on every later start, prints nothing.
    Bootstrap(BootstrapArgs),
}

#[derive(Debug, Clone, Args)]
pub struct BootstrapArgs {
    /// The shop the keys are for.
    #[arg(long, default_value = "default")]
    pub shop: String,

    /// The origins of the public key (the dashboard's own address, for trying the tracker).
    #[arg(
        long = "origin",
        value_name = "URL",
        default_value = "http://localhost:8000"
    )]
    pub origins: Vec<String>,

    /// Where ingestion answers, for the printed `curl` line.
    #[arg(long, default_value = "http://localhost:8080")]
    pub ingestion_url: String,

    /// Where the dashboard and the API answer, for the printed lines.
    #[arg(long, default_value = "http://localhost:8000")]
    pub analytics_url: String,
}

#[derive(Debug, Clone, Args)]
pub struct CreateArgs {
    /// `public` (pk_: browsers of the listed origins), `write` (sk_: servers), `read` (rk_:
    /// the dashboard and the API).
    #[arg(long, value_enum)]
    pub kind: KeyKind,

    /// The shop the key is for.
    #[arg(
        long,
        required_unless_present = "all_shops",
        conflicts_with = "all_shops"
    )]
    pub shop: Option<String>,

    /// A read key for every shop.
    #[arg(long)]
    pub all_shops: bool,

    /// A browser origin a public key may be used from (`https://shop.example`); repeatable.
    #[arg(long = "origin", value_name = "URL")]
    pub origins: Vec<String>,

    /// Lets a public key send purchases (write keys always may).
    #[arg(long)]
    pub allow_purchases: bool,

    /// A name to recognise the key by in `keys list`.
    #[arg(long, value_name = "TEXT")]
    pub name: Option<String>,
}

/// Runs a keys command, writing its output to `out`.
pub async fn run(
    command: &KeysCommand,
    redis: &RedisArgs,
    out: &mut impl Write,
) -> anyhow::Result<()> {
    let store = KeyStore::new(&redis.redis_url, redis.redis_timeout).context("REDIS_URL")?;
    match command {
        KeysCommand::Create(args) => {
            if args.all_shops && args.kind != KeyKind::Read {
                anyhow::bail!("--all-shops is for read keys only");
            }
            let new = NewKey {
                kind: args.kind,
                shop_id: args.shop.clone(),
                origins: args.origins.clone(),
                allow_purchases: args.allow_purchases,
                name: args.name.clone(),
            };
            let (key, record) = store.create(new).await?;
            let shop = record
                .shop_id
                .as_deref()
                .map_or_else(|| "every shop".to_owned(), |s| format!("shop `{s}`"));
            writeln!(
                out,
                "created {} key {} for {shop}; it is shown this once (only its hash is kept):",
                record.kind.as_str(),
                record.id
            )
            .context(CANNOT_WRITE)?;
            writeln!(out, "{key}").context(CANNOT_WRITE)?;
        }
        KeysCommand::List => {
            for record in store.list().await? {
                let line = serde_json::to_string(&record)?;
                writeln!(out, "{line}").context(CANNOT_WRITE)?;
            }
        }
        KeysCommand::Bootstrap(args) => bootstrap(&store, args, out).await?,
        KeysCommand::Revoke { id } => {
            let record = store.revoke(id).await?;
            writeln!(
                out,
                "revoked {}; every service refuses it within 10 seconds",
                record.id
            )
            .context(CANNOT_WRITE)?;
        }
    }
    Ok(())
}

async fn bootstrap(
    store: &KeyStore,
    args: &BootstrapArgs,
    out: &mut impl Write,
) -> anyhow::Result<()> {
    if !store.claim_bootstrap().await? {
        return Ok(());
    }
    let mut made = Vec::new();
    for (kind, origins, purchases) in [
        (KeyKind::Write, Vec::new(), false),
        (KeyKind::Read, Vec::new(), false),
        (KeyKind::Public, args.origins.clone(), true),
    ] {
        let new = NewKey {
            kind,
            shop_id: Some(args.shop.clone()),
            origins,
            allow_purchases: purchases,
            name: Some("first start".into()),
        };
        let (key, _) = store.create(new).await?;
        made.push(key);
    }
    let timestamp = chrono::Utc::now().format("%Y-%m-%dT%H:%M:%SZ");
    let text = format!(
        "\n  API keys for the shop `{shop}`, printed this once (only their hashes are kept):\n    \
         write    {write}\n    read     {read}\n    public   {public}\n\n  Try it:\n    \
         curl -X POST {ingestion}/v1/events -H 'Authorization: Bearer {write}' -H 'Content-Type: application/json' \
         -d '{{\"event_type\":\"page_view\",\"timestamp\":\"{timestamp}\",\"product_id\":\"p-1\"}}'\n    \
         curl -H 'Authorization: Bearer {read}' {analytics}/api/v1/summary\n\n  \
         Dashboard: {analytics}/ (sign in with the read key)\n",
        shop = args.shop,
        write = made[0],
        read = made[1],
        public = made[2],
        ingestion = args.ingestion_url,
        analytics = args.analytics_url,
    );
    out.write_all(text.as_bytes()).context(CANNOT_WRITE)
}

const CANNOT_WRITE: &str = "cannot write the output";
