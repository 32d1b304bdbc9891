# LayerpipeOptions.cmake — ON/OFF/AUTO switches for layerpipe's optional components.
#
#   layerpipe_tristate(LAYERPIPE_ENABLE_MPI "MPI executor (layerpipe::mpi)")
#   if(NOT LAYERPIPE_ENABLE_MPI STREQUAL "OFF")
#     find_package(MPI COMPONENTS CXX)
#     layerpipe_check_found(LAYERPIPE_ENABLE_MPI "${MPI_CXX_FOUND}" "no MPI for C++ was found"
#                           "the Debian package libopenmpi-dev")
#   endif()
#
# ON means required (configuring fails if the dependency is missing), AUTO (the default) builds
# the component when its dependency is found, OFF never looks for it.
include_guard(GLOBAL)

# Declares the cache variable `name` with the default AUTO and rejects anything but ON/OFF/AUTO.
# Common spellings of true and false (1, YES, TRUE, 0, NO, FALSE) are normalised, so
# `-DLAYERPIPE_ENABLE_MPI=yes` means ON rather than an error.
function(layerpipe_tristate name doc)
  set(${name} AUTO CACHE STRING "${doc}: ON, OFF or AUTO")
  set_property(CACHE ${name} PROPERTY STRINGS ON OFF AUTO)
  string(TOUPPER "${${name}}" value)
  if(value MATCHES "^(1|YES|Y|TRUE)$")
    set(value ON)
  elseif(value MATCHES "^(0|NO|N|FALSE)$")
    set(value OFF)
  endif()
  if(NOT value MATCHES "^(ON|OFF|AUTO)$")
    message(FATAL_ERROR "${name} must be ON, OFF or AUTO, not '${${name}}'")
  endif()
  set(${name} "${value}" CACHE STRING "${doc}: ON, OFF or AUTO" FORCE)
endfunction()

# Called after looking for a component's dependency: with the option ON and `found` false,
# stops with a message saying what is missing, what to install and the switch that turns it off.
function(layerpipe_check_found name found what install)
  if(NOT found AND ${name} STREQUAL "ON")
    message(FATAL_ERROR "${name}=ON but ${what}: install ${install}, "
                        "or configure with -D${name}=OFF")
  endif()
endfunction()
