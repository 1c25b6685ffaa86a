//! S3 errors: the one place where a failure becomes an S3 error code, an HTTP status and an
//! XML body.
//!
//! Every layer has its own typed error (`http::ParseError`, `StorageError`, ...); each converts
//! into [`S3Error`] here or next to its definition, and only this module knows status codes.
//! It must not do I/O.

use std::borrow::Cow;
use std::fmt;

/// The S3 error codes Tessera answers with. Names are AWS's, spelled as on the wire.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum S3ErrorCode {
    AccessDenied,
    /// A CORS preflight that the bucket's rules do not allow (or a bucket without rules).
    AccessForbidden,
    AuthorizationHeaderMalformed,
    AuthorizationQueryParametersError,
    BadDigest,
    BadRequest,
    BucketAlreadyExists,
    BucketAlreadyOwnedByYou,
    BucketNotEmpty,
    EntityTooLarge,
    EntityTooSmall,
    ExpiredToken,
    IncompleteBody,
    InternalError,
    /// Not an AWS code (S3 never fills up): a data device is full. 507, as MinIO answers
    /// `XMinioStorageFull`; SDKs do not retry it.
    InsufficientStorage,
    InvalidAccessKeyId,
    InvalidArgument,
    InvalidBucketName,
    InvalidDigest,
    InvalidPart,
    InvalidPartOrder,
    /// POST Object: the policy is not valid base64 JSON of the expected shape.
    InvalidPolicyDocument,
    InvalidRange,
    InvalidRequest,
    /// A tag set beyond S3's limits (`proto::tagging`).
    InvalidTag,
    /// POST Object: the form has no `file` field.
    IncorrectNumberOfFilesInPostRequest,
    KeyTooLongError,
    MalformedXML,
    MalformedACLError,
    UnexpectedContent,
    /// POST Object: the body is not well-formed `multipart/form-data`.
    MalformedPOSTRequest,
    /// POST Object: the fields before the file exceed 20 KiB.
    MaxPostPreDataLengthExceededError,
    MetadataTooLarge,
    MethodNotAllowed,
    MissingContentLength,
    MissingSecurityHeader,
    NoSuchBucket,
    NoSuchKey,
    NoSuchUpload,
    /// A configuration Tessera never has was read (`proto::absent`): S3's "none" answers.
    NoSuchTagSet,
    NoSuchCORSConfiguration,
    NoSuchLifecycleConfiguration,
    NoSuchBucketPolicy,
    ServerSideEncryptionConfigurationNotFoundError,
    NoSuchWebsiteConfiguration,
    ReplicationConfigurationNotFoundError,
    ObjectLockConfigurationNotFoundError,
    NoSuchPublicAccessBlockConfiguration,
    OwnershipControlsNotFoundError,
    NotImplemented,
    /// Not an error on the wire: a conditional GET/HEAD whose condition says "unchanged".
    NotModified,
    PreconditionFailed,
    RequestHeaderSectionTooLarge,
    RequestTimeTooSkewed,
    RequestTimeout,
    ServiceUnavailable,
    SignatureDoesNotMatch,
    SlowDown,
    XAmzContentSHA256Mismatch,
    InvalidChunkSizeError,
    TooManyParts,
    /// HTTP framing so broken that we cannot even route the request.
    MalformedRequest,
    /// Request body larger than the limit for the operation (e.g. an XML body).
    MaxMessageLengthExceeded,
}

impl S3ErrorCode {
    /// The code as S3 spells it in `<Code>`.
    pub fn as_str(self) -> &'static str {
        use S3ErrorCode::*;
        match self {
            AccessDenied => "AccessDenied",
            AccessForbidden => "AccessForbidden",
            AuthorizationHeaderMalformed => "AuthorizationHeaderMalformed",
            AuthorizationQueryParametersError => "AuthorizationQueryParametersError",
            BadDigest => "BadDigest",
            BadRequest => "BadRequest",
            BucketAlreadyExists => "BucketAlreadyExists",
            BucketAlreadyOwnedByYou => "BucketAlreadyOwnedByYou",
            BucketNotEmpty => "BucketNotEmpty",
            EntityTooLarge => "EntityTooLarge",
            EntityTooSmall => "EntityTooSmall",
            ExpiredToken => "ExpiredToken",
            IncompleteBody => "IncompleteBody",
            InternalError => "InternalError",
            InsufficientStorage => "InsufficientStorage",
            InvalidAccessKeyId => "InvalidAccessKeyId",
            InvalidArgument => "InvalidArgument",
            InvalidBucketName => "InvalidBucketName",
            InvalidDigest => "InvalidDigest",
            InvalidPart => "InvalidPart",
            InvalidPartOrder => "InvalidPartOrder",
            InvalidPolicyDocument => "InvalidPolicyDocument",
            InvalidRange => "InvalidRange",
            InvalidRequest => "InvalidRequest",
            InvalidTag => "InvalidTag",
            IncorrectNumberOfFilesInPostRequest => "IncorrectNumberOfFilesInPostRequest",
            KeyTooLongError => "KeyTooLongError",
            MalformedXML => "MalformedXML",
            MalformedACLError => "MalformedACLError",
            UnexpectedContent => "UnexpectedContent",
            MalformedPOSTRequest => "MalformedPOSTRequest",
            MaxPostPreDataLengthExceededError => "MaxPostPreDataLengthExceededError",
            MetadataTooLarge => "MetadataTooLarge",
            MethodNotAllowed => "MethodNotAllowed",
            MissingContentLength => "MissingContentLength",
            MissingSecurityHeader => "MissingSecurityHeader",
            NoSuchBucket => "NoSuchBucket",
            NoSuchKey => "NoSuchKey",
            NoSuchUpload => "NoSuchUpload",
            NoSuchTagSet => "NoSuchTagSet",
            NoSuchCORSConfiguration => "NoSuchCORSConfiguration",
            NoSuchLifecycleConfiguration => "NoSuchLifecycleConfiguration",
            NoSuchBucketPolicy => "NoSuchBucketPolicy",
            ServerSideEncryptionConfigurationNotFoundError => {
                "ServerSideEncryptionConfigurationNotFoundError"
            }
            NoSuchWebsiteConfiguration => "NoSuchWebsiteConfiguration",
            ReplicationConfigurationNotFoundError => "ReplicationConfigurationNotFoundError",
            ObjectLockConfigurationNotFoundError => "ObjectLockConfigurationNotFoundError",
            NoSuchPublicAccessBlockConfiguration => "NoSuchPublicAccessBlockConfiguration",
            OwnershipControlsNotFoundError => "OwnershipControlsNotFoundError",

            NotImplemented => "NotImplemented",
            NotModified => "NotModified",
            PreconditionFailed => "PreconditionFailed",
            RequestHeaderSectionTooLarge => "RequestHeaderSectionTooLarge",
            RequestTimeTooSkewed => "RequestTimeTooSkewed",
            RequestTimeout => "RequestTimeout",
            ServiceUnavailable => "ServiceUnavailable",
            SignatureDoesNotMatch => "SignatureDoesNotMatch",
            SlowDown => "SlowDown",
            XAmzContentSHA256Mismatch => "XAmzContentSHA256Mismatch",
            InvalidChunkSizeError => "InvalidChunkSizeError",
            TooManyParts => "TooManyParts",
            MalformedRequest => "BadRequest",
            MaxMessageLengthExceeded => "MaxMessageLengthExceeded",
        }
    }

    /// The HTTP status S3 answers this code with.
    pub fn status(self) -> u16 {
        use S3ErrorCode::*;
        match self {
            NotModified => 304,
            AuthorizationHeaderMalformed
            | AuthorizationQueryParametersError
            | BadDigest
            | BadRequest
            | EntityTooLarge
            | EntityTooSmall
            | ExpiredToken
            | IncompleteBody
            | InvalidArgument
            | InvalidBucketName
            | InvalidDigest
            | InvalidPart
            | InvalidPartOrder
            | InvalidPolicyDocument
            | InvalidRequest
            | InvalidTag
            | IncorrectNumberOfFilesInPostRequest
            | KeyTooLongError
            | MalformedXML
            | MalformedACLError
            | UnexpectedContent
            | MalformedPOSTRequest
            | MaxPostPreDataLengthExceededError
            | MetadataTooLarge
            | MissingSecurityHeader
            | RequestHeaderSectionTooLarge
            | RequestTimeout
            | XAmzContentSHA256Mismatch
            | InvalidChunkSizeError
            | TooManyParts
            | MalformedRequest
            | MaxMessageLengthExceeded => 400,
            AccessDenied
            | AccessForbidden
            | InvalidAccessKeyId
            | RequestTimeTooSkewed
            | SignatureDoesNotMatch => 403,
            NoSuchBucket
            | NoSuchKey
            | NoSuchUpload
            | NoSuchTagSet
            | NoSuchCORSConfiguration
            | NoSuchLifecycleConfiguration
            | NoSuchBucketPolicy
            | ServerSideEncryptionConfigurationNotFoundError
            | NoSuchWebsiteConfiguration
            | ReplicationConfigurationNotFoundError
            | ObjectLockConfigurationNotFoundError
            | NoSuchPublicAccessBlockConfiguration
            | OwnershipControlsNotFoundError => 404,
            MethodNotAllowed => 405,
            BucketAlreadyExists | BucketAlreadyOwnedByYou | BucketNotEmpty => 409,
            MissingContentLength => 411,
            PreconditionFailed => 412,
            InvalidRange => 416,
            InternalError => 500,
            NotImplemented => 501,
            ServiceUnavailable | SlowDown => 503,
            InsufficientStorage => 507,
        }
    }

    fn default_message(self) -> &'static str {
        use S3ErrorCode::*;
        match self {
            AccessDenied => "Access Denied",
            BadDigest => "The Content-MD5 or checksum you specified did not match what we received.",
            BucketAlreadyOwnedByYou => {
                "Your previous request to create the named bucket succeeded and you already own it."
            }
            BucketNotEmpty => "The bucket you tried to delete is not empty",
            EntityTooSmall => "Your proposed upload is smaller than the minimum allowed object size.",
            EntityTooLarge => "Your proposed upload exceeds the maximum allowed object size.",
            IncompleteBody => "You did not provide the number of bytes specified by the Content-Length HTTP header.",
            InternalError => "We encountered an internal error. Please try again.",
            InvalidAccessKeyId => "The AWS Access Key Id you provided does not exist in our records.",
            InvalidBucketName => "The specified bucket is not valid.",
            InvalidDigest => "The Content-MD5 you specified is not valid.",
            InvalidPart => "One or more of the specified parts could not be found.",
            InvalidPartOrder => "The list of parts was not in ascending order.",
            InvalidPolicyDocument => "The content of the form does not meet the conditions specified in the policy document.",
            IncorrectNumberOfFilesInPostRequest => "POST requires exactly one file upload per request.",
            MalformedPOSTRequest => "The body of your POST request is not well-formed multipart/form-data.",
            MaxPostPreDataLengthExceededError => "Your POST request fields preceding the upload file were too large.",
            InvalidRange => "The requested range is not satisfiable",
            KeyTooLongError => "Your key is too long",
            MalformedXML => "The XML you provided was not well-formed or did not validate against our published schema.",
            MalformedACLError => "The XML you provided was not well-formed or did not validate against our published schema.",
            UnexpectedContent => "This request does not support content.",
            MethodNotAllowed => "The specified method is not allowed against this resource.",
            MissingContentLength => "You must provide the Content-Length HTTP header.",
            NoSuchBucket => "The specified bucket does not exist",
            NoSuchKey => "The specified key does not exist.",
            NoSuchUpload => "The specified upload does not exist.",
            NotImplemented => "A header or operation you provided implies functionality that is not implemented.",
            PreconditionFailed => "At least one of the pre-conditions you specified did not hold",
            RequestTimeTooSkewed => "The difference between the request time and the server's time is too large.",
            SignatureDoesNotMatch => "The request signature we calculated does not match the signature you provided.",
            SlowDown => "Please reduce your request rate.",
            ServiceUnavailable => "Service is unable to handle request.",
            RequestTimeout => "Your socket connection to the server was not read from or written to within the timeout period.",
            XAmzContentSHA256Mismatch => "The provided 'x-amz-content-sha256' header does not match what was computed.",
            _ => "",
        }
    }
}

/// An S3 error with its message and (optionally) the resource it concerns.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct S3Error {
    pub code: S3ErrorCode,
    pub message: Cow<'static, str>,
    pub resource: Option<String>,
}

impl S3Error {
    pub fn new(code: S3ErrorCode) -> S3Error {
        S3Error {
            code,
            message: Cow::Borrowed(code.default_message()),
            resource: None,
        }
    }

    pub fn with_message(code: S3ErrorCode, message: impl Into<Cow<'static, str>>) -> S3Error {
        S3Error {
            code,
            message: message.into(),
            resource: None,
        }
    }

    pub fn resource(mut self, resource: impl Into<String>) -> S3Error {
        self.resource = Some(resource.into());
        self
    }

    pub fn status(&self) -> u16 {
        self.code.status()
    }

    /// The XML body S3 sends with an error (empty for 304 and HEAD responses, by the caller).
    pub fn to_xml(&self, request_id: &str) -> String {
        let mut out = String::with_capacity(256);
        out.push_str("<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<Error><Code>");
        out.push_str(self.code.as_str());
        out.push_str("</Code><Message>");
        xml_escape_into(&mut out, &self.message);
        out.push_str("</Message>");
        if let Some(resource) = &self.resource {
            out.push_str("<Resource>");
            xml_escape_into(&mut out, resource);
            out.push_str("</Resource>");
        }
        out.push_str("<RequestId>");
        out.push_str(request_id);
        out.push_str("</RequestId></Error>");
        out
    }
}

impl From<S3ErrorCode> for S3Error {
    fn from(code: S3ErrorCode) -> S3Error {
        S3Error::new(code)
    }
}

impl fmt::Display for S3Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {}", self.code.as_str(), self.message)
    }
}

impl std::error::Error for S3Error {}

/// Escapes `text` for use in XML character data or attribute values.
pub fn xml_escape_into(out: &mut String, text: &str) {
    for c in text.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&apos;"),
            // XML 1.0 cannot carry most control characters even escaped as entities;
            // S3 emits them as numeric references, which parsers in SDKs accept.
            c if (c as u32) < 0x20 && c != '\t' && c != '\n' && c != '\r' => {
                out.push_str(&format!("&#x{:X};", c as u32));
            }
            '\r' => out.push_str("&#13;"),
            c => out.push(c),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn status_codes() {
        let table = [
            (S3ErrorCode::AccessDenied, 403, "AccessDenied"),
            (S3ErrorCode::NoSuchKey, 404, "NoSuchKey"),
            (S3ErrorCode::PreconditionFailed, 412, "PreconditionFailed"),
            (S3ErrorCode::InvalidRange, 416, "InvalidRange"),
            (S3ErrorCode::SlowDown, 503, "SlowDown"),
            (S3ErrorCode::NotImplemented, 501, "NotImplemented"),
            (S3ErrorCode::BucketNotEmpty, 409, "BucketNotEmpty"),
            (S3ErrorCode::InsufficientStorage, 507, "InsufficientStorage"),
            (
                S3ErrorCode::InvalidPolicyDocument,
                400,
                "InvalidPolicyDocument",
            ),
            (
                S3ErrorCode::MalformedPOSTRequest,
                400,
                "MalformedPOSTRequest",
            ),
        ];
        for (code, status, name) in table {
            assert_eq!(code.status(), status, "{name}");
            assert_eq!(code.as_str(), name);
        }
    }

    #[test]
    fn xml_escapes_resource() {
        let err = S3Error::new(S3ErrorCode::NoSuchKey).resource("/b/a<&>\"");
        let xml = err.to_xml("REQ1");
        assert!(xml.contains("<Code>NoSuchKey</Code>"));
        assert!(xml.contains("<Resource>/b/a&lt;&amp;&gt;&quot;</Resource>"));
        assert!(xml.contains("<RequestId>REQ1</RequestId>"));
    }
}
