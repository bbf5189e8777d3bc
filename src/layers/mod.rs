//! The layer walker: streams each layer blob, sniffs its compression from the bytes
//! (gzip, zstd, none), reads the tar (ustar, PAX, GNU long names) and hands each entry
//! with bounded access to its content to an [`EntryVisitor`]. Nothing is extracted to
//! disk. Whiteouts and opaque directories are applied afterwards in [`FsView`], which
//! gives the final filesystem and, for every entry, the later layer that hid it.
