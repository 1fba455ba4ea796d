//! fl-client (placeholder while the workspace is being built).
