//! The sentry: a userspace kernel.
