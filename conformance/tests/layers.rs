//! The whole suite through the layers that must be invisible to a caller, each over the
//! reference driver: a layer that changes what a driver does shows up here as failures.

/// Keys under a prefix: listings, ranges, multipart, copies, errors and awkward keys
/// must all behave as on the bare driver.
mod prefix {
    use std::sync::Arc;

    use storage_core::layers::PrefixLayer;
    use storage_core::{Driver, MemoryDriver};

    storage_conformance::conformance_tests!(async {
        Arc::new(PrefixLayer::new(Arc::new(MemoryDriver::new()), "tenant/a/").expect("a valid prefix"))
            as Arc<dyn Driver>
    });
}

/// Every call traced and observed.
mod tracing {
    use std::sync::Arc;
    use std::sync::atomic::{AtomicUsize, Ordering};

    use storage_core::layers::{CallRecord, TracingLayer};
    use storage_core::{Driver, MemoryDriver};

    storage_conformance::conformance_tests!(async {
        let calls = Arc::new(AtomicUsize::new(0));
        let observer = Arc::new(move |_: &CallRecord| {
            calls.fetch_add(1, Ordering::Relaxed);
        });
        Arc::new(TracingLayer::new(Arc::new(MemoryDriver::new())).with_observer(observer)) as Arc<dyn Driver>
    });
}

/// A limit generous enough for the suite's own concurrency (it holds a few GET bodies
/// open at once) but still in the path of every call.
mod concurrency_limit {
    use std::sync::Arc;

    use storage_core::layers::ConcurrencyLimitLayer;
    use storage_core::{Driver, MemoryDriver};

    storage_conformance::conformance_tests!(async {
        Arc::new(ConcurrencyLimitLayer::new(Arc::new(MemoryDriver::new()), 32)) as Arc<dyn Driver>
    });
}
