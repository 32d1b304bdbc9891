# LayerpipeHeaderCheck.cmake — compile every public header alone, as its own translation unit.
#
#   layerpipe_public_headers(headers "${PROJECT_SOURCE_DIR}/include/layerpipe")
#   layerpipe_add_header_check(layerpipe_header_check cpp HEADERS ${headers})       # g++
#   layerpipe_add_header_check(layerpipe_header_check_cuda cu                       # nvcc
#     HEADERS ${LAYERPIPE_DEVICE_SAFE_HEADERS} LINK layerpipe::cuda)
#
# A header that forgets an include, or needs one included before it, fails to build here.
include_guard(GLOBAL)

# Sets `out` to the public headers under `dir` (paths relative to it, e.g. core/config.hpp),
# skipping detail/ folders. The glob re-runs at build time, so a new header joins the check
# without a manual reconfigure.
function(layerpipe_public_headers out dir)
  file(GLOB_RECURSE headers RELATIVE "${dir}" CONFIGURE_DEPENDS "${dir}/*.hpp")
  list(FILTER headers EXCLUDE REGEX "(^|/)detail/")
  list(SORT headers)
  set(${out} ${headers} PARENT_SCOPE)
endfunction()

# Adds OBJECT library `target` with one generated source per header, each only
# `#include <layerpipe/HEADER>`. ext: cpp (compiled by g++) or cu (nvcc). LINK: extra targets
# (components); layerpipe::layerpipe and the warnings are always linked.
function(layerpipe_add_header_check target ext)
  cmake_parse_arguments(PARSE_ARGV 2 arg "" "" "HEADERS;LINK")
  if(NOT arg_HEADERS)
    message(FATAL_ERROR "layerpipe_add_header_check(${target}): no HEADERS given")
  endif()
  set(sources "")
  foreach(header IN LISTS arg_HEADERS)
    string(MAKE_C_IDENTIFIER "${header}" id)
    set(src "${CMAKE_CURRENT_BINARY_DIR}/${target}/${id}.${ext}")
    file(CONFIGURE OUTPUT "${src}" CONTENT "#include <layerpipe/${header}>\n")
    list(APPEND sources "${src}")
  endforeach()
  add_library(${target} OBJECT ${sources})
  target_link_libraries(${target} PRIVATE layerpipe::layerpipe layerpipe_warnings ${arg_LINK})
endfunction()
