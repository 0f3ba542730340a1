# SPDX-License-Identifier: MIT
# Helpers shared by the directories' CMakeLists.

# bpftime_add_test(NAME SOURCES a.c b.c LIBS lib1 lib2 [ARGS ...] [TIMEOUT s])
# A cmocka test executable registered with CTest.  The agent's and the server's
# messages go to stderr (BPFTIME_LOG_OUTPUT=console), where the tests read them.
# Without tests (BPFTIME_BUILD_TESTS off) the executable is declared (so that
# the directory's further settings on it still apply) but never built.
function(bpftime_add_test name)
  cmake_parse_arguments(T "" "TIMEOUT" "SOURCES;LIBS;ARGS" ${ARGN})
  if(NOT BPFTIME_TESTS_ON)
    add_executable(${name} EXCLUDE_FROM_ALL ${T_SOURCES})
    return()
  endif()
  add_executable(${name} ${T_SOURCES})
  target_link_libraries(${name} PRIVATE ${T_LIBS} PkgConfig::CMOCKA)
  add_test(NAME ${name} COMMAND ${name} ${T_ARGS})
  if(NOT T_TIMEOUT)
    set(T_TIMEOUT 300)
  endif()
  set_tests_properties(${name} PROPERTIES TIMEOUT ${T_TIMEOUT}
    ENVIRONMENT "BPFTIME_SHARED_DIR=${BPFTIME_SHARED_DIR};BPFTIME_LOG_OUTPUT=console")
endfunction()

# Every test may say it cannot run here: exit status 77 (common/testkit.h,
# TEST_SKIP_CODE) is reported by CTest as Skipped, never as Passed.  add_test
# is wrapped so that every test of the tree, present and future, has it.
function(add_test)
  _add_test(${ARGV})
  if(ARGV0 STREQUAL "NAME")
    set_tests_properties(${ARGV1} PROPERTIES SKIP_RETURN_CODE 77)
  endif()
endfunction()
