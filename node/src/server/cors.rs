//! CORS on the accepting core: Put/Get/DeleteBucketCors, the unauthenticated preflight
//! (`OPTIONS`), and the `Access-Control-*` headers added to any answer (errors too) of a
//! request that carries `Origin`, as S3 does.
//!
//! The rules live in the bucket registry (`BucketMeta::cors`, written by core 0 through the
//! journal like a bucket's ACL and copied to every core); this module parses them when a
//! request carrying `Origin` needs them. Matching is `proto::cors`.
//!
//! Must not: let CORS decide access. A preflight only says what a browser may send; the
//! request itself is authenticated and authorized exactly as without `Origin`.

use std::rc::Rc;

use super::body::{self, Verifier};
use super::conn::{Conn, Response};
use super::core::CoreCtx;
use super::owner::OwnerOp;
use super::s3::{expect_done, route_of, Request};
use crate::proto::cors::{requested_headers, CorsConfig, CORS_BODY_MAX_BYTES};
use crate::proto::error::{S3Error, S3ErrorCode};
use crate::proto::http::RequestHead;
use crate::proto::route::Route;
use crate::proto::xml;

/// PutBucketCors: validates the rules and stores them in canonical form.
pub async fn put(
    req: &mut Request<'_>,
    conn: &mut Conn,
    name: String,
) -> Result<Response, S3Error> {
    let verifier = Verifier::new(req.head, req.auth.payload)?;
    let body = body::read_small(conn, &mut req.body, verifier, CORS_BODY_MAX_BYTES).await?;
    let config = xml::parse_cors_configuration(&body)?;
    set(req.ctx, name, Some(xml::cors_configuration(&config))).await?;
    Ok(Response::new(200))
}

/// GetBucketCors: the stored rules, or `404 NoSuchCORSConfiguration`.
pub fn get(ctx: &Rc<CoreCtx>, name: &str) -> Result<Response, S3Error> {
    let cors = ctx.buckets.borrow().get(name).and_then(|m| m.cors.clone());
    match cors {
        Some(xml) => Ok(Response::xml(200, xml.to_string())),
        None => Err(S3Error::with_message(
            S3ErrorCode::NoSuchCORSConfiguration,
            "The CORS configuration does not exist",
        )
        .resource(format!("/{name}"))),
    }
}

/// DeleteBucketCors: removes the rules (a no-op for a bucket without any).
pub async fn delete(ctx: &Rc<CoreCtx>, name: String) -> Result<Response, S3Error> {
    set(ctx, name, None).await?;
    Ok(Response::new(204))
}

async fn set(ctx: &Rc<CoreCtx>, name: String, cors: Option<String>) -> Result<(), S3Error> {
    expect_done(
        ctx.mesh
            .call(0, OwnerOp::SetBucketCors { name, cors })
            .await?,
    )
}

/// The bucket's parsed rules, if it has any. Stored rules were validated when they were set;
/// a document that no longer parses (it cannot, short of a bug) counts as none.
fn rules(ctx: &Rc<CoreCtx>, bucket: &str) -> Option<CorsConfig> {
    let xml = ctx
        .buckets
        .borrow()
        .get(bucket)
        .and_then(|m| m.cors.clone())?;
    xml::parse_cors_configuration(xml.as_bytes()).ok()
}

fn forbidden(message: &'static str) -> S3Error {
    S3Error::with_message(S3ErrorCode::AccessForbidden, message)
}

/// A preflight (`OPTIONS`): `Origin` and `Access-Control-Request-Method` are required (400);
/// a bucket without rules, or no rule allowing the origin, method and every requested
/// header, is `403 AccessForbidden`; else 200 with the rule's headers.
pub fn preflight(
    ctx: &Rc<CoreCtx>,
    head: &RequestHead,
    route: &Route,
) -> Result<Response, S3Error> {
    let Some(bucket) = route.bucket.as_deref() else {
        return Err(S3ErrorCode::NotImplemented.into());
    };
    let Some(origin) = head.header("origin") else {
        return Err(S3Error::with_message(
            S3ErrorCode::BadRequest,
            "Insufficient information. Origin request header needed.",
        ));
    };
    let Some(method) = head.header("access-control-request-method") else {
        return Err(S3Error::with_message(
            S3ErrorCode::BadRequest,
            "Invalid Access-Control-Request-Method: null",
        ));
    };
    if !ctx.buckets.borrow().contains_key(bucket) {
        return Err(S3Error::new(S3ErrorCode::NoSuchBucket).resource(bucket.to_string()));
    }
    let Some(config) = rules(ctx, bucket) else {
        return Err(forbidden(
            "CORSResponse: CORS is not enabled for this bucket.",
        ));
    };
    let headers = requested_headers(head.header("access-control-request-headers"));
    let Some(rule) = config.find(origin, method.trim(), &headers) else {
        return Err(forbidden(
            "CORSResponse: This CORS request is not allowed. This is usually because the evalution of Origin, request method / Access-Control-Request-Method or Access-Control-Request-Headers are not whitelisted by the resource's CORS spec.",
        ));
    };
    let mut response = Response::new(200);
    for (name, value) in rule.response_headers(origin, &headers) {
        response = response.header(name, value);
    }
    Ok(response)
}

/// Adds the CORS headers to the answer of an actual request that carries `Origin`, when a
/// rule of its bucket allows the origin and the method (`Access-Control-Request-Method`
/// if the request names one, else its own).
pub fn decorate(ctx: &Rc<CoreCtx>, head: &RequestHead, mut response: Response) -> Response {
    let Some(origin) = head.header("origin") else {
        return response;
    };
    if head.method == "OPTIONS" {
        return response;
    }
    let Some(bucket) = route_of(ctx, head).ok().and_then(|r| r.bucket) else {
        return response;
    };
    let Some(config) = rules(ctx, &bucket) else {
        return response;
    };
    let method = head
        .header("access-control-request-method")
        .unwrap_or(&head.method)
        .trim();
    if let Some(rule) = config.find(origin, method, &[]) {
        for (name, value) in rule.response_headers(origin, &[]) {
            response = response.header(name, value);
        }
    }
    response
}
