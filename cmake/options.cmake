# SPDX-License-Identifier: MIT
# cmake/options.cmake: resolves BPFTIME_BUILD_TESTS/BENCH/EXAMPLES (ON, OFF,
# AUTO) into BPFTIME_TESTS_ON/BENCH_ON/EXAMPLES_ON.  ON fails the configure
# when what the part needs is missing; AUTO says what it leaves out.
pkg_check_modules(CMOCKA IMPORTED_TARGET cmocka)
find_program(BPFTIME_CLANG NAMES clang clang-14)

# bpftime_resolve_part(VAR PART FOUND WHAT)
function(bpftime_resolve_part var part found what)
  string(TOUPPER "${${var}}" v)
  if(v STREQUAL "AUTO")
    if(found)
      set(on ON)
    else()
      set(on OFF)
      message(STATUS "bpftime: ${part} not built (${what} not found; ${var}=ON requires it)")
    endif()
  elseif(v)
    if(NOT found)
      message(FATAL_ERROR "${var}=ON but ${what} was not found (install it, or -D${var}=OFF)")
    endif()
    set(on ON)
  else()
    set(on OFF)
  endif()
  set(BPFTIME_${part}_ON ${on} PARENT_SCOPE)
endfunction()

bpftime_resolve_part(BPFTIME_BUILD_TESTS TESTS "${CMOCKA_FOUND}" "cmocka (libcmocka-dev)")
bpftime_resolve_part(BPFTIME_BUILD_BENCH BENCH "${BPFTIME_CLANG}" "clang")
bpftime_resolve_part(BPFTIME_BUILD_EXAMPLES EXAMPLES "${BPFTIME_CLANG}" "clang")

if(NOT BPFTIME_TESTS_ON)
  # Each directory declares its tests next to its code; without tests those
  # declarations make nothing: bpftime_add_test (cmake/bpftime.cmake) leaves
  # an executable out of the default build, and these become no-ops.
  function(add_test)
  endfunction()
  function(set_tests_properties)
  endfunction()
endif()
