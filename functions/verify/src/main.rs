use twostep::{Config, aws};

#[tokio::main]
async fn main() -> Result<(), lambda_http::Error> {
    lambda_http::tracing::init_default_subscriber();
    let config = Config::from_env()?;
    let sdk = aws::sdk_config(env!("CARGO_PKG_NAME"));
    // Both keys are read in the background while the rest starts, one after the other on
    // one connection; the first request that needs one waits for what is left of its read.
    let hasher = aws::code_hasher_from_start(&sdk, &config);
    let totp = config
        .totp_key_secret_id
        .as_deref()
        .map(|id| aws::totp_cipher_after(&sdk, id, &hasher));
    let app = verify::App {
        http: twostep::http::App {
            hasher,
            core: aws::core(&sdk, config),
            keys: twostep::service::keys::KeyRing::new(),
        },
        totp,
    };
    twostep::http::lambda::serve(|request| verify::handle(&app, request)).await
}
