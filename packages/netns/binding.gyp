{
  "targets": [
    {
      "target_name": "ambit_netns",
      "sources": ["native/ambit_netns.c"],
      "cflags": ["-std=gnu11", "-Wall", "-Wextra", "-Werror", "-O2"],
      "defines": ["NAPI_DISABLE_CPP_EXCEPTIONS"],
      "conditions": [["OS!='linux'", {"type": "none"}]]
    }
  ]
}
