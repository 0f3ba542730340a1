# SPDX-License-Identifier: MIT
# `bpftime-aot run OBJ MEM` must print what the C reference computes on MEM,
# and refuse a missing object with a clear message.
execute_process(COMMAND ${AOT} run ${OBJ} ${MEM} OUTPUT_VARIABLE got RESULT_VARIABLE rc)
execute_process(COMMAND ${REF} --reference ${MEM} OUTPUT_VARIABLE want)
if(NOT rc EQUAL 0 OR NOT got STREQUAL want OR NOT want MATCHES "^Output: [0-9]+\n$")
  message(FATAL_ERROR "bpftime-aot run: rc ${rc}, got '${got}', want '${want}'")
endif()
execute_process(COMMAND ${AOT} run ${OBJ}.missing ERROR_VARIABLE err RESULT_VARIABLE rc)
if(rc EQUAL 0 OR NOT err MATCHES "No such file or directory")
  message(FATAL_ERROR "missing object: rc ${rc}, '${err}'")
endif()
message(STATUS "bpftime-aot run: ${got}")
