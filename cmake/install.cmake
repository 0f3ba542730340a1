# SPDX-License-Identifier: MIT
# cmake/install.cmake: what `cmake --install` puts where (GNUInstallDirs), and
# the shared library that embeds the VM.
#
#   bin/                       bpftime, bpftimetool, bpftime-aot
#   <libdir>/                  libbpftime-agent.so, libbpftime-syscall-server.so
#                              (preloaded into other programs), libbpftime-llvm.so
#                              (dlopened by the VM), libbpftime-vm.so (embedding)
#   include/bpftime/           vm.h, log.h (the API libbpftime-vm.so exports), and
#                              insn.h, common.h (which they include)
#   <libdir>/pkgconfig/        bpftime.pc
#   <libdir>/cmake/bpftime/    bpftimeConfig.cmake: find_package(bpftime) -> bpftime::vm
#
# Relocatable: the tools find the preloaded libraries at ../<libdir> from
# themselves (tools/bpftime/main.c), the VM finds libbpftime-llvm.so next to
# the code that loads it or at ../<libdir> (vm/llvm_glue.c), bpftime.pc
# derives its prefix from its own place (${pcfiledir}), the CMake package
# from its own.  Nothing records the install prefix in a binary.
include(CMakePackageConfigHelpers)

# ---- libbpftime-vm.so: the VM (load, verify, interpret, JIT, AOT objects,
# the LLVM back end by dlopen) with only the public API of bpftime/vm.h and
# bpftime/log.h exported (libbpftime-vm.map)
if(TARGET bpftime_vm)
  add_library(bpftime-vm SHARED ${CMAKE_SOURCE_DIR}/cmake/empty.c)
  set_target_properties(bpftime-vm PROPERTIES
    OUTPUT_NAME bpftime-vm VERSION ${PROJECT_VERSION} SOVERSION ${PROJECT_VERSION_MAJOR}
    EXPORT_NAME vm
    LINK_DEPENDS ${CMAKE_SOURCE_DIR}/cmake/libbpftime-vm.map)
  target_link_libraries(bpftime-vm PRIVATE
    -Wl,--whole-archive bpftime_vm bpftime_common -Wl,--no-whole-archive dl pthread)
  target_link_options(bpftime-vm PRIVATE
    -Wl,--version-script=${CMAKE_SOURCE_DIR}/cmake/libbpftime-vm.map
    $<$<NOT:$<BOOL:${BPFTIME_SANITIZE}>>:-Wl,--no-undefined>)
  target_include_directories(bpftime-vm INTERFACE
    $<INSTALL_INTERFACE:${CMAKE_INSTALL_INCLUDEDIR}>)
  install(TARGETS bpftime-vm EXPORT bpftimeTargets
    LIBRARY DESTINATION ${CMAKE_INSTALL_LIBDIR})
  # vm.h and log.h, and what they include
  foreach(h vm log insn common)
    install(FILES ${CMAKE_SOURCE_DIR}/include/bpftime/${h}.h
      DESTINATION ${CMAKE_INSTALL_INCLUDEDIR}/bpftime)
  endforeach()
endif()

# ---- the tools and the libraries they preload
foreach(t bpftime bpftimetool bpftime-aot)
  if(TARGET ${t})
    install(TARGETS ${t} RUNTIME DESTINATION ${CMAKE_INSTALL_BINDIR})
  endif()
endforeach()
foreach(t bpftime-agent bpftime-syscall-server bpftime_llvm)
  if(TARGET ${t})
    install(TARGETS ${t} LIBRARY DESTINATION ${CMAKE_INSTALL_LIBDIR})
  endif()
endforeach()
install(FILES ${CMAKE_SOURCE_DIR}/LICENSE ${CMAKE_SOURCE_DIR}/README.md
  ${CMAKE_SOURCE_DIR}/docs/architecture.md DESTINATION ${CMAKE_INSTALL_DOCDIR})

# ---- pkg-config and the CMake package
if(TARGET bpftime-vm)
  # the prefix relative to <libdir>/pkgconfig, whatever the libdir's depth
  file(RELATIVE_PATH BPFTIME_PC_UP "/prefix/${CMAKE_INSTALL_LIBDIR}/pkgconfig" "/prefix")
  string(REGEX REPLACE "/$" "" BPFTIME_PC_UP "${BPFTIME_PC_UP}")
  configure_file(${CMAKE_SOURCE_DIR}/cmake/bpftime.pc.in ${CMAKE_BINARY_DIR}/bpftime.pc @ONLY)
  install(FILES ${CMAKE_BINARY_DIR}/bpftime.pc DESTINATION ${CMAKE_INSTALL_LIBDIR}/pkgconfig)

  install(EXPORT bpftimeTargets NAMESPACE bpftime::
    DESTINATION ${CMAKE_INSTALL_LIBDIR}/cmake/bpftime)
  configure_package_config_file(${CMAKE_SOURCE_DIR}/cmake/bpftimeConfig.cmake.in
    ${CMAKE_BINARY_DIR}/bpftimeConfig.cmake
    INSTALL_DESTINATION ${CMAKE_INSTALL_LIBDIR}/cmake/bpftime)
  write_basic_package_version_file(${CMAKE_BINARY_DIR}/bpftimeConfigVersion.cmake
    VERSION ${PROJECT_VERSION} COMPATIBILITY SameMinorVersion)
  install(FILES ${CMAKE_BINARY_DIR}/bpftimeConfig.cmake
    ${CMAKE_BINARY_DIR}/bpftimeConfigVersion.cmake
    DESTINATION ${CMAKE_INSTALL_LIBDIR}/cmake/bpftime)
endif()
