# Installs a layerpipe build tree into a fresh prefix for the find_package consumer test.
#   cmake -DBUILD_DIR=<build> -DPREFIX=<prefix> [-DCONFIG=<config>] -P install.cmake
foreach(var BUILD_DIR PREFIX)
  if(NOT ${var})
    message(FATAL_ERROR "install.cmake: -D${var}=... is required")
  endif()
endforeach()
file(REMOVE_RECURSE "${PREFIX}")  # a header removed from the source must not linger here
set(config_args "")
if(CONFIG)
  set(config_args --config "${CONFIG}")
endif()
execute_process(COMMAND "${CMAKE_COMMAND}" --install "${BUILD_DIR}" --prefix "${PREFIX}" ${config_args}
                RESULT_VARIABLE result)
if(NOT result EQUAL 0)
  message(FATAL_ERROR "cmake --install ${BUILD_DIR} --prefix ${PREFIX} failed: ${result}")
endif()
# The layout find_package(layerpipe CONFIG) and #include <layerpipe/...> rely on.
foreach(file
    include/layerpipe/core/version.hpp
    include/layerpipe/schedule/detail/engine.hpp
    share/cmake/layerpipe/layerpipe-config.cmake
    share/cmake/layerpipe/layerpipe-config-version.cmake
    share/cmake/layerpipe/layerpipe-targets.cmake)
  if(NOT EXISTS "${PREFIX}/${file}")
    message(FATAL_ERROR "the install into ${PREFIX} lacks ${file}")
  endif()
endforeach()
message(STATUS "installed layerpipe into ${PREFIX}")
