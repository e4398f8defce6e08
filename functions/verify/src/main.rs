use twostep::{Config, aws};

#[tokio::main]
async fn main() -> Result<(), lambda_http::Error> {
    lambda_http::tracing::init_default_subscriber();
    let config = Config::from_env()?;
    let sdk = aws::sdk_config(env!("CARGO_PKG_NAME"));
    // Both keys at once: a cold start waits for one Secrets Manager round trip, not two.
    let (hasher, totp) = tokio::join!(aws::code_hasher(&sdk, &config), async {
        match &config.totp_key_secret_id {
            Some(id) => aws::totp_cipher(&sdk, id).await.map(Some),
            None => Ok(None),
        }
    });
    let app = verify::App {
        http: twostep::http::App {
            hasher: hasher?,
            core: aws::core(&sdk, config),
            keys: twostep::service::keys::KeyRing::new(),
        },
        totp: totp?,
    };
    twostep::http::lambda::serve(|request| verify::handle(&app, request)).await
}
