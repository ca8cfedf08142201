//! The cluster example's display, unit-tested here: the change detection
//! that prints a pod's row off a terminal only when it changes, and the
//! screen redrawn on one (the tests are in `examples/cluster/display.rs`;
//! the example itself is built as a plain binary, which the other tests run).

#[allow(dead_code)]
#[path = "../cluster/display.rs"]
mod display;
