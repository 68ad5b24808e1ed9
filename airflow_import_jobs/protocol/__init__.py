"""The three APIs' wire formats, sans-IO: one module per API builds requests and parses responses into
the normalized model; nothing here opens a socket, reads a clock or the environment."""
