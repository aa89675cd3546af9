# The web UI embedded into the daemon (included by ports/linux/CMakeLists.txt): every file of web/
# with a known type becomes part of webui_assets[] (web/embed.cmake), served from memory with
# gzip and ETags, so the gateway needs no files at run time and nothing from the internet.
file(GLOB_RECURSE TB_WEB_FILES CONFIGURE_DEPENDS ${CMAKE_SOURCE_DIR}/web/*)
set(TB_WEBUI_C ${CMAKE_BINARY_DIR}/webui_assets.c)
add_custom_command(
  OUTPUT ${TB_WEBUI_C}
  COMMAND ${CMAKE_COMMAND} -DSRC=${CMAKE_SOURCE_DIR}/web -DOUT=${TB_WEBUI_C} -DTMP=${CMAKE_BINARY_DIR}/webui.tmp
          -P ${CMAKE_SOURCE_DIR}/web/embed.cmake
  DEPENDS ${TB_WEB_FILES}
  COMMENT "Embedding the web UI"
  VERBATIM)
add_library(tbwebui STATIC ${TB_WEBUI_C})
target_include_directories(tbwebui PRIVATE ${CMAKE_SOURCE_DIR})
