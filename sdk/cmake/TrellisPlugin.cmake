# trellis_add_plugin(<target> SOURCES <file>... [INSTALL_DESTINATION <dir>])
#
# Builds a trellis plugin: a shared module with hidden visibility that exports only the two
# symbols the TRELLIS_PLUGIN macro writes. Used in-tree for the built-in plugins and out of tree
# by plugin authors through find_package(TrellisSDK).
include_guard(GLOBAL)

set(TRELLIS_PLUGIN_VERSION_SCRIPT "${CMAKE_CURRENT_LIST_DIR}/trellis-plugin.map"
  CACHE INTERNAL "Linker version script exporting only the trellis entry points")

function(trellis_add_plugin target)
  cmake_parse_arguments(ARG "" "INSTALL_DESTINATION" "SOURCES" ${ARGN})
  if(NOT ARG_SOURCES)
    message(FATAL_ERROR "trellis_add_plugin(${target}): SOURCES is required")
  endif()
  add_library(${target} MODULE ${ARG_SOURCES})
  target_link_libraries(${target} PRIVATE Trellis::sdk)
  target_compile_features(${target} PRIVATE cxx_std_20)
  # Hidden visibility keeps a plugin's symbols from colliding with the host's or another plugin's.
  set_target_properties(${target} PROPERTIES
    PREFIX ""
    CXX_VISIBILITY_PRESET hidden
    C_VISIBILITY_PRESET hidden
    VISIBILITY_INLINES_HIDDEN ON
    LINK_DEPENDS ${TRELLIS_PLUGIN_VERSION_SCRIPT})
  if(CMAKE_SYSTEM_NAME STREQUAL "Linux")
    target_link_options(${target} PRIVATE "LINKER:--version-script=${TRELLIS_PLUGIN_VERSION_SCRIPT}")
  endif()
  if(ARG_INSTALL_DESTINATION)
    install(TARGETS ${target} LIBRARY DESTINATION ${ARG_INSTALL_DESTINATION})
  endif()
endfunction()
