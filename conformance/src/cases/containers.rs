//! Containers: create, get, list, delete, names, and object calls on missing containers.

use futures::stream::StreamExt;
use storage_core::{DriverExt, ErrorKind, GetOptions, ListOptions, Payload, PutOptions};

use crate::case::{Case, CaseResult, case, ensure};
use crate::context::{Ctx, OrFail, expect_kind, fresh_container_name};

const G: &str = "containers";

pub(crate) fn cases() -> Vec<Case> {
    vec![
        case!(G, container_create_and_get, ["manage_containers"]),
        case!(G, container_listed, ["list_containers"]),
        case!(G, container_create_duplicate, ["manage_containers"]),
        case!(G, container_get_missing),
        case!(G, container_delete_missing, ["manage_containers"]),
        case!(G, container_delete_empty, ["manage_containers"]),
        case!(G, container_delete_after_emptying, ["manage_containers"]),
        case!(G, container_delete_nonempty, ["manage_containers", "refuses_nonempty_delete"]),
        case!(G, container_recreate_after_delete, ["manage_containers"]),
        case!(G, container_invalid_name_slash),
        case!(G, container_invalid_name_too_long),
        case!(G, container_invalid_name_create, ["manage_containers"]),
        case!(G, container_invalid_name_object_ops),
        case!(G, container_missing_put, ["container_checked"]),
        case!(G, container_missing_list),
        case!(G, container_missing_head),
        case!(G, container_missing_get, ["container_checked"]),
        case!(G, container_missing_delete_object),
    ]
}

const INVALID_SLASH: &str = "inva/lid";

fn too_long_name() -> String {
    "a".repeat(300)
}

async fn container_create_and_get(ctx: Ctx) -> CaseResult {
    let name = fresh_container_name();
    let created = ctx.d().create_container(&name).await.or_fail(&format!("create_container {name:?}"))?;
    ctx.track_container(&name);
    ensure!(created.name == name, "create_container {name:?} returned a container named {:?}", created.name);
    let got = ctx.d().get_container(&name).await.or_fail(&format!("get_container {name:?} after creating it"))?;
    ensure!(got.name == name, "get_container {name:?} returned a container named {:?}", got.name);
    ensure!(
        ctx.d().container_exists(&name).await.or_fail("container_exists")?,
        "container_exists({name:?}) is false right after creating it"
    );
    Ok(())
}

async fn container_listed(ctx: Ctx) -> CaseResult {
    let mut s = ctx.d().list_containers();
    let mut names = Vec::new();
    while let Some(c) = s.next().await {
        names.push(c.or_fail("list_containers")?.name);
        ensure!(names.len() <= 1_000_000, "list_containers never ends");
    }
    ensure!(
        names.contains(&ctx.container),
        "list_containers does not include the case's container {:?} ({} containers listed)",
        ctx.container,
        names.len()
    );
    let mut dedup = names.clone();
    dedup.sort();
    dedup.dedup();
    ensure!(dedup.len() == names.len(), "list_containers repeats a container");
    Ok(())
}

async fn container_create_duplicate(ctx: Ctx) -> CaseResult {
    let name = ctx.new_container().await?;
    let e = expect_kind(
        ctx.d().create_container(&name).await,
        ErrorKind::ContainerAlreadyExists,
        &format!("create_container {name:?} a second time"),
    )?;
    ensure!(e.is_container_error(), "ContainerAlreadyExists must be a container error (is_container_error)");
    ctx.d().get_container(&name).await.or_fail("get_container after the refused duplicate create")?;
    Ok(())
}

async fn container_get_missing(ctx: Ctx) -> CaseResult {
    let name = fresh_container_name();
    let e = expect_kind(
        ctx.d().get_container(&name).await,
        ErrorKind::ContainerDoesNotExist,
        &format!("get_container {name:?} (never created)"),
    )?;
    ensure!(e.is_container_error(), "ContainerDoesNotExist must be a container error (is_container_error)");
    ensure!(
        !ctx.d().container_exists(&name).await.or_fail("container_exists on a missing container")?,
        "container_exists is true for a container that was never created"
    );
    Ok(())
}

async fn container_delete_missing(ctx: Ctx) -> CaseResult {
    let name = fresh_container_name();
    expect_kind(
        ctx.d().delete_container(&name).await,
        ErrorKind::ContainerDoesNotExist,
        &format!("delete_container {name:?} (never created)"),
    )?;
    Ok(())
}

async fn container_delete_empty(ctx: Ctx) -> CaseResult {
    let name = ctx.new_container().await?;
    ctx.d().delete_container(&name).await.or_fail(&format!("delete_container {name:?} (empty)"))?;
    expect_kind(
        ctx.d().get_container(&name).await,
        ErrorKind::ContainerDoesNotExist,
        &format!("get_container {name:?} after deleting it"),
    )?;
    ensure!(
        !ctx.d().container_exists(&name).await.or_fail("container_exists after delete")?,
        "container_exists is true after the container was deleted"
    );
    Ok(())
}

async fn container_delete_after_emptying(ctx: Ctx) -> CaseResult {
    let name = ctx.new_container().await?;
    ctx.d()
        .put_object(&name, "only/object", Payload::from("x"), &PutOptions::default())
        .await
        .or_fail("put_object into the new container")?;
    ctx.d().delete_object(&name, "only/object").await.or_fail("delete_object")?;
    ctx.d()
        .delete_container(&name)
        .await
        .or_fail("delete_container once its only object was deleted (it must count as empty)")?;
    Ok(())
}

async fn container_delete_nonempty(ctx: Ctx) -> CaseResult {
    let name = ctx.new_container().await?;
    ctx.d()
        .put_object(&name, "keep/me", Payload::from("precious"), &PutOptions::default())
        .await
        .or_fail("put_object into the new container")?;
    let e = expect_kind(
        ctx.d().delete_container(&name).await,
        ErrorKind::ContainerIsNotEmpty,
        &format!("delete_container {name:?} holding an object"),
    )?;
    ensure!(e.is_container_error(), "ContainerIsNotEmpty must be a container error (is_container_error)");
    let data = ctx.d().get_bytes(&name, "keep/me").await.or_fail("get_object after the refused container delete")?;
    ensure!(data == "precious", "the object changed after a refused container delete: {data:?}");
    Ok(())
}

async fn container_recreate_after_delete(ctx: Ctx) -> CaseResult {
    let name = fresh_container_name();
    ctx.d().create_container(&name).await.or_fail("create_container")?;
    ctx.track_container(&name);
    ctx.d().delete_container(&name).await.or_fail("delete_container")?;
    ctx.d().create_container(&name).await.or_fail("create_container again after deleting it")?;
    ctx.d().get_container(&name).await.or_fail("get_container of the re-created container")?;
    Ok(())
}

async fn container_invalid_name_slash(ctx: Ctx) -> CaseResult {
    let e = expect_kind(
        ctx.d().get_container(INVALID_SLASH).await,
        ErrorKind::InvalidContainerName,
        &format!("get_container {INVALID_SLASH:?}"),
    )?;
    ensure!(e.is_container_error(), "InvalidContainerName must be a container error (is_container_error)");
    Ok(())
}

async fn container_invalid_name_too_long(ctx: Ctx) -> CaseResult {
    let name = too_long_name();
    let e = expect_kind(
        ctx.d().get_container(&name).await,
        ErrorKind::InvalidContainerName,
        "get_container with a 300-character name",
    )?;
    ensure!(e.is_container_error(), "InvalidContainerName must be a container error (is_container_error)");
    Ok(())
}

async fn container_invalid_name_create(ctx: Ctx) -> CaseResult {
    for name in [INVALID_SLASH.to_owned(), too_long_name()] {
        let short = &name[..name.len().min(20)];
        let r = ctx.d().create_container(&name).await;
        if r.is_ok() {
            ctx.track_container(&name);
        }
        expect_kind(r, ErrorKind::InvalidContainerName, &format!("create_container {short:?}..."))?;
        expect_kind(
            ctx.d().delete_container(&name).await,
            ErrorKind::InvalidContainerName,
            &format!("delete_container {short:?}..."),
        )?;
    }
    Ok(())
}

async fn container_invalid_name_object_ops(ctx: Ctx) -> CaseResult {
    let c = INVALID_SLASH;
    let d = ctx.d();
    let what = |op: &str| format!("{op} in the container {c:?}");
    expect_kind(
        d.put_object(c, "k", Payload::from("x"), &PutOptions::default()).await,
        ErrorKind::InvalidContainerName,
        &what("put_object"),
    )?;
    expect_kind(d.head_object(c, "k").await, ErrorKind::InvalidContainerName, &what("head_object"))?;
    expect_kind(
        d.get_object(c, "k", &GetOptions::default()).await,
        ErrorKind::InvalidContainerName,
        &what("get_object"),
    )?;
    expect_kind(d.delete_object(c, "k").await, ErrorKind::InvalidContainerName, &what("delete_object"))?;
    expect_kind(
        d.list_page(c, &ListOptions::default(), None).await,
        ErrorKind::InvalidContainerName,
        &what("list_page"),
    )?;
    Ok(())
}

async fn container_missing_put(ctx: Ctx) -> CaseResult {
    let name = fresh_container_name();
    let r = ctx.d().put_object(&name, "k", Payload::from("x"), &PutOptions::default()).await;
    if r.is_ok() {
        ctx.track_container(&name);
    }
    let e = expect_kind(r, ErrorKind::ContainerDoesNotExist, "put_object into a container that does not exist")?;
    ensure!(e.is_container_error(), "ContainerDoesNotExist must be a container error");
    expect_kind(
        ctx.d().get_container(&name).await,
        ErrorKind::ContainerDoesNotExist,
        "get_container after a refused put (the put must not create the container)",
    )?;
    Ok(())
}

async fn container_missing_list(ctx: Ctx) -> CaseResult {
    let name = fresh_container_name();
    expect_kind(
        ctx.d().list_page(&name, &ListOptions::default(), None).await,
        ErrorKind::ContainerDoesNotExist,
        "list_page in a container that does not exist",
    )?;
    let first = ctx.d().list_objects(&name, ListOptions::default()).next().await;
    match first {
        Some(r) => {
            expect_kind(r, ErrorKind::ContainerDoesNotExist, "list_objects in a container that does not exist")?;
        }
        None => return Err("list_objects in a container that does not exist ended without an error".into()),
    }
    Ok(())
}

async fn container_missing_head(ctx: Ctx) -> CaseResult {
    let name = fresh_container_name();
    expect_kind(
        ctx.d().head_object(&name, "k").await,
        ErrorKind::ContainerDoesNotExist,
        "head_object in a container that does not exist",
    )?;
    Ok(())
}

async fn container_missing_get(ctx: Ctx) -> CaseResult {
    let name = fresh_container_name();
    expect_kind(
        ctx.d().get_object(&name, "k", &GetOptions::default()).await,
        ErrorKind::ContainerDoesNotExist,
        "get_object in a container that does not exist",
    )?;
    Ok(())
}

async fn container_missing_delete_object(ctx: Ctx) -> CaseResult {
    let name = fresh_container_name();
    expect_kind(
        ctx.d().delete_object(&name, "k").await,
        ErrorKind::ContainerDoesNotExist,
        "delete_object in a container that does not exist",
    )?;
    Ok(())
}
