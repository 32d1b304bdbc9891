# Runs an MPI job that must abort: passes if it exits non-zero within TIMEOUT seconds and its
# output matches EXPECT; prints the output either way (ctest also matches it).
#   cmake -DCOMMAND="mpiexec|-n|4|prog|--fail-on-rank|2" -DEXPECT=regex -DTIMEOUT=50 -P expect_abort.cmake
string(REPLACE "|" ";" command "${COMMAND}")
execute_process(COMMAND ${command} RESULT_VARIABLE rc OUTPUT_VARIABLE out ERROR_VARIABLE out
                TIMEOUT ${TIMEOUT})
message("${out}")
message("exit status: ${rc}")
if(rc STREQUAL "0")
  message(FATAL_ERROR "mpi abort check: the job exited with status 0; a failing stage must abort it")
endif()
if(NOT rc MATCHES "^[0-9]+$")
  message(FATAL_ERROR "mpi abort check: the job did not exit by itself (${rc})")
endif()
if(NOT out MATCHES "${EXPECT}")
  message(FATAL_ERROR "mpi abort check: the output does not match '${EXPECT}'")
endif()
