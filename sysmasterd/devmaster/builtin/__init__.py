"""devmaster builtins: one module per udev builtin (IMPORT{builtin}, RUN{builtin})."""
