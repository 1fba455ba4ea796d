//! fl-coordinator (placeholder while the workspace is being built).
