//! Start-up wiring shared by the functions: SDK clients from one configuration load,
//! the code-hash key from Secrets Manager.

use std::sync::Arc;
use std::time::Duration;

use aws_config::environment::EnvironmentVariableCredentialsProvider;
use aws_config::identity::IdentityCache;
use aws_config::retry::RetryConfig;
use aws_config::timeout::TimeoutConfig;
use aws_config::{AppName, BehaviorVersion, Region};
use aws_credential_types::provider::SharedCredentialsProvider;
use aws_runtime::env_config::EnvConfigValue;
use aws_smithy_async::rt::sleep::{SharedAsyncSleep, TokioSleep};
use aws_smithy_async::time::SharedTimeSource;
use aws_smithy_http_client::proxy::ProxyConfig;
use aws_smithy_http_client::{Builder, ConnectorBuilder, tls};
use aws_smithy_runtime_api::client::connector_metadata::ConnectorMetadata;
use aws_smithy_runtime_api::client::http::{
    HttpClient, HttpConnectorSettings, SharedHttpClient, SharedHttpConnector,
};
use aws_smithy_runtime_api::client::runtime_components::RuntimeComponents;
use aws_smithy_types::error::display::DisplayErrorContext;
use aws_types::os_shim_internal::Env;
use aws_types::service_config::{LoadServiceConfig, ServiceConfigKey};

use crate::channels::AwsSender;
use crate::channels::authenticator::{self, TotpCipher};
use crate::channels::calls::SipCalls;
use crate::config::{Config, ConfigError};
use crate::domain::CodeHasher;
use crate::metrics::EmfMetrics;
use crate::service::Core;
use crate::service::deferred::Deferred;
use crate::store::dynamodb::DynamoStore;
use crate::time::SystemClock;
use crate::webhooks::{KeySource, SigningKeys, WebhookSecret};

/// The SDK configuration of a function, built from the variables Lambda sets: the region
/// (`AWS_REGION`), the execution role's credentials (`AWS_ACCESS_KEY_ID`, …) and, for local
/// emulators, the standard `AWS_ENDPOINT_URL` and `AWS_ENDPOINT_URL_<SERVICE>`, with the SDK's
/// standard retries. Nothing else is looked for: no profile files, no instance metadata,
/// no web-identity or container credentials, so the functions link none of those providers
/// (nor the STS client they need) and start without the file and network probes of the
/// default chain. `function` names the caller in the user agent (`app/twostep-send`), so
/// CloudTrail, and the local tests that check each function's permissions, can tell which
/// function made a call. Tools run by people use [`sdk_config_from_defaults`].
pub fn sdk_config(function: &str) -> aws_config::SdkConfig {
    let mut builder = aws_config::SdkConfig::builder()
        .behavior_version(BehaviorVersion::latest())
        .region(
            ["AWS_REGION", "AWS_DEFAULT_REGION"]
                .into_iter()
                .find_map(|name| std::env::var(name).ok().filter(|r| !r.is_empty()))
                .map(Region::new),
        )
        .credentials_provider(SharedCredentialsProvider::new(
            EnvironmentVariableCredentialsProvider::new(),
        ))
        .identity_cache(IdentityCache::lazy().build())
        .retry_config(RetryConfig::standard())
        .sleep_impl(SharedAsyncSleep::new(TokioSleep::new()))
        .time_source(SharedTimeSource::default())
        .http_client(http_client())
        .service_config(EndpointVariables);
    if let Ok(name) = AppName::new(format!("twostep-{function}")) {
        builder = builder.app_name(name);
    }
    if let Some(url) = std::env::var("AWS_ENDPOINT_URL")
        .ok()
        .filter(|u| !u.is_empty())
    {
        builder = builder.endpoint_url(url);
    }
    builder.build()
}

/// The SDK's full default configuration chain (profiles, SSO-less credential providers,
/// instance metadata), for tools that people run with their own credentials (`keys.sh`).
pub async fn sdk_config_from_defaults(tool: &str) -> aws_config::SdkConfig {
    let loader = aws_config::defaults(BehaviorVersion::latest()).http_client(http_client());
    let loader = match AppName::new(format!("twostep-{tool}")) {
        Ok(name) => loader.app_name(name),
        Err(_) => loader,
    };
    loader.load().await
}

/// `AWS_ENDPOINT_URL_<SERVICE>` (e.g. `AWS_ENDPOINT_URL_DYNAMODB`) for each client, as the
/// SDK's own loader reads it, without its profile-file half.
#[derive(Debug)]
struct EndpointVariables;

impl LoadServiceConfig for EndpointVariables {
    fn load_config(&self, key: ServiceConfigKey<'_>) -> Option<String> {
        let env = Env::real();
        EnvConfigValue::new()
            .env(key.env())
            .service_id(key.service_id())
            .load(&env, None)
            .map(|(value, _)| value.into_owned())
    }
}

/// The SDK's HTTP client: hyper 1 and rustls, with ring's cryptography (the SDK's default
/// client is the same with aws-lc, whose C library is twice the code of the rest of a
/// function's dependencies put together), the system's root certificates, and the
/// `HTTPS_PROXY`/`NO_PROXY` variables as the default client reads them. Its TLS set-up (the
/// system's roots read and parsed) waits for the first connection: see [`FirstUse`].
pub fn http_client() -> SharedHttpClient {
    SharedHttpClient::new(FirstUse(hyper_client()))
}

/// An HTTP client whose connector is built on its first request, not when an SDK client is
/// made. The SDK's hyper client builds one in its config validation, which every
/// `Client::new` runs, so that the system's root certificates load at start-up: about
/// 140 certificates read and decoded, and one rustls configuration per SDK client, all on
/// the init's path even in a function whose first AWS call comes later. Here they go with
/// the first connection (the background key read's, in send, verify and calls). A client
/// that cannot be built fails that request, with the same error, instead of the init.
#[derive(Debug)]
struct FirstUse(SharedHttpClient);

impl HttpClient for FirstUse {
    fn http_connector(
        &self,
        settings: &HttpConnectorSettings,
        components: &RuntimeComponents,
    ) -> SharedHttpConnector {
        self.0.http_connector(settings, components)
    }

    fn connector_metadata(&self) -> Option<ConnectorMetadata> {
        self.0.connector_metadata()
    }
}

fn hyper_client() -> SharedHttpClient {
    Builder::new().build_with_connector_fn(|settings, components| {
        let mut connector = ConnectorBuilder::default().tls_provider(tls::Provider::Rustls(
            tls::rustls_provider::CryptoMode::Ring,
        ));
        connector.set_connector_settings(settings.cloned());
        if let Some(components) = components {
            connector.set_sleep_impl(components.sleep_impl());
        }
        connector.set_proxy_config(Some(ProxyConfig::from_env()));
        connector.build()
    })
}

/// The core over DynamoDB, the system clock and EMF metrics.
pub fn core(sdk: &aws_config::SdkConfig, config: Config) -> Core {
    let store = DynamoStore::new(
        aws_sdk_dynamodb::Client::new(sdk),
        config.table_name.clone(),
    );
    let metrics = EmfMetrics {
        namespace: config.metrics_namespace.clone(),
    };
    Core {
        config: Arc::new(config),
        store: Arc::new(store),
        clock: Arc::new(SystemClock),
        metrics: Arc::new(metrics),
    }
}

/// SMS, voice and email delivery (voice only with `VOICE_ORIGINATION_IDENTITY`), and
/// interactive calls (only with `SIP_MEDIA_APPLICATION_ID` and `CALL_FROM_NUMBER`).
pub fn sender(sdk: &aws_config::SdkConfig, config: &Config) -> AwsSender {
    let calls = match (
        &config.calls.sip_media_application_id,
        &config.calls.from_number,
    ) {
        (Some(application), Some(from)) => Some(SipCalls::new(
            aws_sdk_chimesdkvoice::Client::new(sdk),
            application,
            from.clone(),
        )),
        _ => None,
    };
    sms_sender(sdk, config)
        .with_voice(
            aws_sdk_pinpointsmsvoicev2::Client::new(sdk),
            config.voice_origination_identity.as_deref(),
            config.voice_max_price_per_minute.as_deref(),
        )
        .with_calls(calls)
}

/// SMS and email delivery only (the calls function's SMS after a missed call).
pub fn sms_sender(sdk: &aws_config::SdkConfig, config: &Config) -> AwsSender {
    AwsSender::new(
        aws_sdk_sns::Client::new(sdk),
        aws_sdk_sesv2::Client::new(sdk),
        &config.email_from,
        config.sms_sender_id.as_deref(),
    )
}

/// The code-hash key(s), read from Secrets Manager in the background from now: the init
/// goes on, and the first request that needs the key waits for what is left of the read
/// ([`Deferred`]).
pub fn code_hasher_from_start(
    sdk: &aws_config::SdkConfig,
    config: &Config,
) -> Arc<Deferred<CodeHasher>> {
    let (sdk, id) = (sdk.clone(), config.code_hash_secret_id.clone());
    Deferred::start(move || {
        let (sdk, id) = (sdk.clone(), id.clone());
        async move { hasher_from(&sdk, &id).await }
    })
}

/// The keys that seal TOTP secrets, read in the background once `after` (the code-hash
/// key) has been read, on the connection to Secrets Manager that read opened.
pub fn totp_cipher_after(
    sdk: &aws_config::SdkConfig,
    secret_id: &str,
    after: &Arc<Deferred<CodeHasher>>,
) -> Arc<Deferred<TotpCipher>> {
    let (sdk, id) = (sdk.clone(), secret_id.to_owned());
    Deferred::start_after(after, move || {
        let (sdk, id) = (sdk.clone(), id.clone());
        async move { totp_cipher(&sdk, &id).await }
    })
}

/// Reads the code-hash key(s) from Secrets Manager. The secret is JSON
/// `{"current": "...", "previous": "..."}` (`previous` only during a rotation) or a plain
/// string; each key is at least 32 bytes.
pub async fn code_hasher(
    sdk: &aws_config::SdkConfig,
    config: &Config,
) -> Result<CodeHasher, ConfigError> {
    hasher_from(sdk, &config.code_hash_secret_id).await
}

async fn hasher_from(
    sdk: &aws_config::SdkConfig,
    secret_id: &str,
) -> Result<CodeHasher, ConfigError> {
    let keys = read_keys(
        sdk,
        secret_id,
        "CODE_HASH_SECRET_ID",
        CodeHasher::MIN_KEY_LEN,
    )
    .await?;
    Ok(CodeHasher::new(
        keys.current.as_bytes(),
        keys.previous.as_deref().map(str::as_bytes),
    ))
}

/// Reads the key(s) that seal TOTP secrets from the Secrets Manager secret `secret_id`
/// (`TOTP_KEY_SECRET_ID`), in the code-hash key's format: JSON `{"current", "previous"}` or a
/// plain string, each key at least 32 bytes.
pub async fn totp_cipher(
    sdk: &aws_config::SdkConfig,
    secret_id: &str,
) -> Result<TotpCipher, ConfigError> {
    let keys = read_keys(
        sdk,
        secret_id,
        "TOTP_KEY_SECRET_ID",
        authenticator::MIN_KEY_LEN,
    )
    .await?;
    Ok(TotpCipher::new(
        keys.current.as_bytes(),
        keys.previous.as_deref().map(str::as_bytes),
    ))
}

/// The webhook signing secret(s) from Secrets Manager (`WEBHOOK_SECRET_ID`), JSON
/// `{"current": "...", "previous": "..."}` (`previous` only during a rotation) or a plain
/// string, each `whsec_<base64>` or bare base64 of 24 to 64 bytes.
#[derive(Debug, Clone)]
pub struct WebhookKeySource {
    client: aws_sdk_secretsmanager::Client,
    secret_id: String,
}

impl WebhookKeySource {
    /// The secret `secret_id`.
    pub fn new(sdk: &aws_config::SdkConfig, secret_id: String) -> Self {
        Self {
            client: aws_sdk_secretsmanager::Client::new(sdk),
            secret_id,
        }
    }
}

#[async_trait::async_trait]
impl KeySource for WebhookKeySource {
    async fn read(&self) -> Result<SigningKeys, String> {
        let keys = read_keys_with(&self.client, &self.secret_id, "WEBHOOK_SECRET_ID", 0)
            .await
            .map_err(|e| e.to_string())?;
        let parse = |key: &str| {
            WebhookSecret::parse(key)
                .map_err(|e| format!("WEBHOOK_SECRET_ID holds a bad secret: {e}"))
        };
        Ok(SigningKeys {
            current: parse(&keys.current)?,
            previous: keys.previous.as_deref().map(parse).transpose()?,
        })
    }
}

/// How long one attempt to read a key secret may take (the SDK's standard retry makes up to
/// three). A read takes tens of milliseconds; at 128 MB, with its TLS handshake, a few hundred.
const KEY_READ_ATTEMPT_TIMEOUT: Duration = Duration::from_secs(3);

/// A key secret's contents: the current key and, during a rotation, the previous one.
struct SecretKeys {
    current: String,
    previous: Option<String>,
}

/// Reads a key secret: JSON `{"current": "...", "previous": "..."}` (`previous` only during
/// a rotation) or a plain string, each key at least `min_len` bytes. Errors name `variable`,
/// the environment variable that names the secret.
async fn read_keys(
    sdk: &aws_config::SdkConfig,
    secret_id: &str,
    variable: &'static str,
    min_len: usize,
) -> Result<SecretKeys, ConfigError> {
    read_keys_with(
        &aws_sdk_secretsmanager::Client::new(sdk),
        secret_id,
        variable,
        min_len,
    )
    .await
}

async fn read_keys_with(
    client: &aws_sdk_secretsmanager::Client,
    secret_id: &str,
    variable: &'static str,
    min_len: usize,
) -> Result<SecretKeys, ConfigError> {
    let problem = |problem: String| ConfigError { variable, problem };
    // Each attempt is bounded: a read in flight when Lambda froze the environment (after
    // its init, before the first event) may find its connection gone when it thaws; the
    // timeout then starts a new attempt instead of waiting on the old one.
    let attempt = TimeoutConfig::builder()
        .operation_attempt_timeout(KEY_READ_ATTEMPT_TIMEOUT)
        .build();
    let out = client
        .get_secret_value()
        .secret_id(secret_id)
        .customize()
        .config_override(aws_sdk_secretsmanager::config::Builder::default().timeout_config(attempt))
        .send()
        .await
        .map_err(|e| {
            problem(format!(
                "could not be read from Secrets Manager: {}",
                DisplayErrorContext(&e)
            ))
        })?;
    let text = out
        .secret_string()
        .ok_or_else(|| problem("is not a string secret".to_owned()))?;
    let (current, previous) = match serde_json::from_str::<serde_json::Value>(text) {
        Ok(serde_json::Value::Object(map)) => (
            map.get("current")
                .and_then(|v| v.as_str())
                .map(str::to_owned),
            map.get("previous")
                .and_then(|v| v.as_str())
                .filter(|v| !v.is_empty())
                .map(str::to_owned),
        ),
        _ => (Some(text.to_owned()), None),
    };
    let current = current.ok_or_else(|| problem("has no \"current\" key".to_owned()))?;
    for key in std::iter::once(&current).chain(previous.as_ref()) {
        if key.len() < min_len {
            return Err(problem(format!("holds a key shorter than {min_len} bytes")));
        }
    }
    Ok(SecretKeys { current, previous })
}
