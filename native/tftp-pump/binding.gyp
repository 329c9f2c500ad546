# Linux-only N-API addon: the DATA/ACK loop of one TFTP read transfer on its own
# native thread (Kiln's `tftp.engine: native`). Built by the root package's npm
# `install` script next to native/bind-to-device; needs gcc, g++ (linker), make,
# python3 and Node's headers. See docs/tftp.md "Native engine".
{
  "targets": [
    {
      "target_name": "tftp_pump",
      "sources": ["tftp_pump.c"],
      "cflags": ["-Wall", "-Wextra", "-Werror", "-O2", "-pthread"],
      "ldflags": ["-pthread"],
      "defines": ["NAPI_VERSION=8", "_GNU_SOURCE"]
    }
  ]
}
