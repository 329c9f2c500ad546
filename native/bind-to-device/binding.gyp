# Linux-only N-API addon: SO_BINDTODEVICE for Kiln's per-interface DHCP sockets.
# Built by the root package's npm `install` script (node-gyp bundled with npm);
# needs a C toolchain (gcc, g++ as linker, make) and python3. See docs/dhcp.md.
{
  "targets": [
    {
      "target_name": "bind_to_device",
      "sources": ["bind_to_device.c"],
      "cflags": ["-Wall", "-Wextra", "-Werror"],
      "defines": ["NAPI_VERSION=8"]
    }
  ]
}
