//! The validation pipeline: shape, header, key, signature and times, then claims.

use jsonwebtoken::errors::ErrorKind;
use jsonwebtoken::{Algorithm, Validation};

use super::claims::{self, ClaimRules, Claims, EntraIdentity};
use super::error::{TokenError, sanitize};
use super::jwks::{JwksCache, KeyId};

/// Everything a validation needs, borrowed from the validator.
pub(super) struct Validator<'a> {
    pub jwks: &'a JwksCache,
    pub rules: ClaimRules<'a>,
    pub leeway_secs: u64,
}

impl Validator<'_> {
    pub(super) async fn validate(&self, token: &str) -> Result<EntraIdentity, TokenError> {
        let header_segment = claims::split(token)?;
        let header = claims::parse_header(header_segment)?;
        if header.alg != "RS256" {
            return Err(TokenError::UnsupportedAlgorithm(sanitize(&header.alg)));
        }
        if header.crit.is_some() {
            return Err(TokenError::Malformed(
                "the token header has critical extensions (`crit`), which are not supported".to_owned(),
            ));
        }
        let key_id = match (&header.kid, &header.x5t) {
            (Some(kid), _) => KeyId::Kid(kid),
            (None, Some(x5t)) => KeyId::X5t(x5t),
            (None, None) => {
                return Err(TokenError::Malformed("the token header names no signing key (`kid` or `x5t`)".to_owned()));
            }
        };
        let key = self.jwks.key_for(key_id).await?;

        let mut validation = Validation::new(Algorithm::RS256);
        validation.leeway = self.leeway_secs;
        validation.validate_exp = true;
        validation.validate_nbf = true;
        // Audience, issuer and tenant are checked by `Claims::check` for precise errors.
        validation.validate_aud = false;
        validation.set_required_spec_claims(&["exp"]);
        let data = jsonwebtoken::decode::<Claims>(token, &key, &validation).map_err(map_error)?;
        // Read after the key: finding it may have fetched the metadata, and the issuers with it, for the first time.
        data.claims.check(&self.rules, &self.jwks.issuers())
    }
}

fn map_error(error: jsonwebtoken::errors::Error) -> TokenError {
    match error.kind() {
        ErrorKind::InvalidSignature => TokenError::BadSignature,
        ErrorKind::ExpiredSignature => TokenError::Expired,
        ErrorKind::ImmatureSignature => TokenError::NotYetValid,
        ErrorKind::MissingRequiredClaim(claim) if claim == "exp" => TokenError::MissingClaim("exp"),
        ErrorKind::InvalidClaimFormat(claim) => {
            TokenError::Malformed(format!("the `{}` claim has the wrong type", sanitize(claim)))
        }
        ErrorKind::InvalidAlgorithm | ErrorKind::UnsupportedAlgorithm => {
            TokenError::UnsupportedAlgorithm("(unrecognised)".to_owned())
        }
        ErrorKind::Json(_) | ErrorKind::Utf8(_) | ErrorKind::Base64(_) => {
            TokenError::Malformed("the token's claims are not a JSON object of the expected shape".to_owned())
        }
        _ => TokenError::Malformed("the token could not be verified".to_owned()),
    }
}
