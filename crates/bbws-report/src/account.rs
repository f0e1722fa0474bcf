//! The AWS configuration of an account: the standard chain, or a named profile.

use aws_config::meta::region::RegionProviderChain;
use aws_config::profile::{ProfileFileCredentialsProvider, ProfileFileRegionProvider};
use aws_config::provider_config::ProviderConfig;
use aws_config::BehaviorVersion;
use aws_credential_types::provider::ProvideCredentials;
use bbws_aws::Aws;

/// The configuration of the account `profile` names, or of the standard chain (AWS_PROFILE,
/// AWS_* variables, AWS_ENDPOINT_URL) without one; over the HTTPS client and timeouts every BBWS
/// binary uses (bbws_aws::clients). A named profile's credentials are used even when AWS_* key
/// variables are set (they would come first in the standard chain), and its region and
/// `endpoint_url` apply; AWS_ENDPOINT_URL still wins over the profile's endpoint.
pub async fn account(profile: Option<&str>) -> Aws {
    let base = Aws::load().await;
    let Some(profile) = profile else {
        return base;
    };
    let region = RegionProviderChain::first_try(
        ProfileFileRegionProvider::builder()
            .profile_name(profile)
            .build(),
    )
    .or_else(base.config.region().cloned())
    .region()
    .await;
    let mut providers = ProviderConfig::without_region().with_region(region.clone());
    let mut loader = aws_config::defaults(BehaviorVersion::latest()).profile_name(profile);
    if let Some(http) = base.config.http_client() {
        providers = providers.with_http_client(http.clone());
        loader = loader.http_client(http);
    }
    if let Some(timeouts) = base.config.timeout_config() {
        loader = loader.timeout_config(timeouts.clone());
    }
    if let Some(region) = region {
        loader = loader.region(region);
    }
    let credentials = ProfileFileCredentialsProvider::builder()
        .profile_name(profile)
        .configure(&providers)
        .build();
    Aws {
        config: loader.credentials_provider(credentials).load().await,
    }
}

/// Whether the account's credentials load: `Err` with the provider's words (an unknown profile,
/// no credentials anywhere), so the command can say so before any call.
pub async fn check_credentials(aws: &Aws, what: &str) -> Result<(), String> {
    let Some(provider) = aws.config.credentials_provider() else {
        return Err(format!("{what}: no credentials are configured"));
    };
    provider
        .provide_credentials()
        .await
        .map(|_| ())
        .map_err(|e| {
            let mut words = e.to_string();
            let mut source = std::error::Error::source(&e);
            while let Some(s) = source {
                words.push_str(&format!(": {s}"));
                source = s.source();
            }
            format!("{what}: the credentials do not load: {words}")
        })
}
