# hark_layer(NAME DIR [DEPS ...]): one static library per layer of src/, sources globbed so that
# adding a file needs no CMake edit. Layers only see the layers they name.
function(hark_layer name dir)
  file(GLOB_RECURSE srcs CONFIGURE_DEPENDS ${CMAKE_SOURCE_DIR}/src/${dir}/*.cpp)
  if(NOT srcs)
    add_library(${name} INTERFACE)
    target_include_directories(${name} INTERFACE ${CMAKE_SOURCE_DIR}/src ${CMAKE_SOURCE_DIR}/include)
    target_link_libraries(${name} INTERFACE ${ARGN})
    return()
  endif()
  add_library(${name} STATIC ${srcs})
  target_include_directories(${name} PUBLIC ${CMAKE_SOURCE_DIR}/src ${CMAKE_SOURCE_DIR}/include)
  target_link_libraries(${name} PUBLIC ${ARGN})
endfunction()

# hark_test(NAME DIR DEPS...): one gtest binary per tests/<dir>, registered with CTest.
function(hark_test name dir)
  file(GLOB_RECURSE srcs CONFIGURE_DEPENDS ${CMAKE_SOURCE_DIR}/tests/${dir}/*.cpp)
  if(NOT srcs)
    return()
  endif()
  add_executable(${name} ${srcs})
  target_include_directories(${name} PRIVATE ${CMAKE_SOURCE_DIR}/tests)
  target_link_libraries(${name} PRIVATE ${ARGN} hark_test_support GTest::gtest GTest::gtest_main GTest::gmock)
  # Paths come from hark_test_support's compile-time defaults (tests/CMakeLists.txt).
  gtest_discover_tests(${name} DISCOVERY_TIMEOUT 60)
endfunction()

# hark_cuda_library(NAME DIR [DEPS ...]): the CUDA layer, *.cu and *.cpp of src/DIR. Host code
# gets the project's warning flags; nvcc gets them through -Xcompiler (it rejects most of them).
# .cu files are C++17 (CMake 3.25 knows no C++20 flag for nvcc); host .cpp files are C++20.
function(hark_cuda_library name dir)
  file(GLOB srcs CONFIGURE_DEPENDS ${CMAKE_SOURCE_DIR}/src/${dir}/*.cu
       ${CMAKE_SOURCE_DIR}/src/${dir}/*.cpp)
  add_library(${name} STATIC ${srcs})
  target_include_directories(${name} PUBLIC ${CMAKE_SOURCE_DIR}/src ${CMAKE_SOURCE_DIR}/include)
  target_link_libraries(${name} PUBLIC ${ARGN})
  get_property(host_opts DIRECTORY PROPERTY COMPILE_OPTIONS)
  set(cuda_opts -Xcompiler=-Wall,-Wextra,-Wno-unused-parameter)
  if(HARK_WERROR)
    list(APPEND cuda_opts -Xcompiler=-Werror --Werror=all-warnings)
  endif()
  if(CMAKE_BUILD_TYPE STREQUAL "Release")
    list(APPEND cuda_opts -O3)
  endif()
  set_target_properties(${name} PROPERTIES
    CUDA_STANDARD 17 CUDA_STANDARD_REQUIRED ON CUDA_RUNTIME_LIBRARY Shared
    COMPILE_OPTIONS "$<$<COMPILE_LANGUAGE:CXX>:${host_opts}>;$<$<COMPILE_LANGUAGE:CUDA>:${cuda_opts}>")
endfunction()
