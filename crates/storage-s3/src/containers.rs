//! Buckets: ListBuckets, HeadBucket, CreateBucket, DeleteBucket.

use bytes::Bytes;
use http::Method;
use storage_core::{Container, Error, ErrorKind, Page, Result};
use storage_http::{RequestBody, http};

use crate::client::Call;
use crate::driver::{NAME, S3Driver};
use crate::xml::{self, ListAllMyBucketsResult};

/// One page of ListBuckets.
pub(crate) async fn list_page(d: &S3Driver, token: Option<String>) -> Result<Page<Container>> {
    let mut call = Call::new("ListBuckets", Method::GET, None, None);
    if let Some(t) = token {
        call = call.query("continuation-token", t);
    }
    let body = d.client.send(call).await?.bytes().await?;
    let result = ListAllMyBucketsResult::parse(&body)?;
    let items = result
        .buckets
        .into_iter()
        .map(|b| Container { name: b.name, created: b.creation_date, extra: Default::default() })
        .collect();
    Ok(Page { items, next_token: result.continuation_token })
}

/// HeadBucket: the bucket, with its region when the server says.
pub(crate) async fn get(d: &S3Driver, name: &str) -> Result<Container> {
    d.check_bucket(name)?;
    match d.client.send(Call::new("HeadBucket", Method::HEAD, Some(name), None)).await {
        Ok(resp) => {
            let mut c = Container::new(name);
            if let Some(r) = resp.header("x-amz-bucket-region") {
                c.extra.insert("region".into(), r.to_owned());
            }
            Ok(c)
        }
        // A 404 to HEAD has no body to name the missing thing: here it is the bucket.
        Err(e) if e.status() == Some(404) => Err(Error::container_not_found(NAME, name).with_status(404)),
        Err(e) => Err(e),
    }
}

/// CreateBucket, refusing a bucket that already exists (us-east-1 answers 200 to
/// re-creating one's own bucket; Libcloud semantics want an error).
pub(crate) async fn create(d: &S3Driver, name: &str) -> Result<Container> {
    d.check_bucket(name)?;
    match get(d, name).await {
        Ok(_) => {
            return Err(Error::new(ErrorKind::ContainerAlreadyExists, format!("bucket {name:?} already exists"))
                .with_driver(NAME)
                .with_container(name));
        }
        Err(e) if e.kind() == ErrorKind::ContainerDoesNotExist => {}
        Err(e) if e.kind() == ErrorKind::PermissionDenied => {
            return Err(Error::new(
                ErrorKind::ContainerAlreadyExists,
                format!("bucket {name:?} exists and belongs to someone else"),
            )
            .with_driver(NAME)
            .with_container(name));
        }
        Err(e) => return Err(e),
    }
    let region = &d.client.config.region;
    let mut call = Call::new("CreateBucket", Method::PUT, Some(name), None);
    if region != "us-east-1" {
        let body = format!(
            "<CreateBucketConfiguration xmlns=\"http://s3.amazonaws.com/doc/2006-03-01/\"><LocationConstraint>{}</LocationConstraint></CreateBucketConfiguration>",
            xml::escape(region)
        );
        call = call.body(RequestBody::Bytes(Bytes::from(body)));
    }
    d.client.send(call).await?;
    Ok(Container::new(name))
}

/// DeleteBucket.
pub(crate) async fn delete(d: &S3Driver, name: &str) -> Result<()> {
    d.check_bucket(name)?;
    d.client.send(Call::new("DeleteBucket", Method::DELETE, Some(name), None)).await?;
    Ok(())
}
