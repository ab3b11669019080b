// swift-tools-version:6.1
import PackageDescription

// Linux only (POSIX shared memory with futexes, OFD locks, io_uring): building elsewhere stops at once
// with a clear error (Sources/RingBus/RingBus.swift and CSupport/CRingBus/include/CRingBus.h).
let package = Package(
    name: "RingBus",
    products: [
        .library(name: "RingBus", targets: ["RingBus"]),
        // The C shim as a product only for Benchmarks/ (the C path measured beside the Swift one); it is
        // not an API: applications use RingBus.
        .library(name: "CRingBus", targets: ["CRingBus"]),
        .executable(name: "ringbus", targets: ["RingBusCLI"]),
        .executable(name: "RingBusTestPeer", targets: ["RingBusTestPeer"]),
    ],
    dependencies: [
        .package(url: "https://github.com/apple/swift-argument-parser", from: "1.5.0"),
        // Logging and metrics APIs only (no backends): the application bootstraps its own.
        .package(url: "https://github.com/apple/swift-log", from: "1.16.2"),
        .package(url: "https://github.com/apple/swift-metrics", from: "2.13.0"),
        // HDR histograms for `ringbus bench` (the CLI only).
        .package(url: "https://github.com/HdrHistogram/hdrhistogram-swift", from: "0.2.0"),
    ],
    targets: [
        // C11 shim: owns every byte of shared memory. Only uring.c includes <liburing.h>.
        .target(
            name: "CRingBus",
            path: "CSupport/CRingBus",
            cSettings: [.define("_GNU_SOURCE")],
            linkerSettings: [.linkedLibrary("uring")]
        ),
        .target(
            name: "RingBus",
            dependencies: [
                "CRingBus",
                .product(name: "Logging", package: "swift-log"),
                .product(name: "CoreMetrics", package: "swift-metrics"),
            ],
            path: "Sources/RingBus"
        ),
        .executableTarget(
            name: "RingBusCLI",
            dependencies: [
                "RingBus",
                .product(name: "ArgumentParser", package: "swift-argument-parser"),
                .product(name: "Histogram", package: "hdrhistogram-swift"),
            ],
            path: "Sources/RingBusCLI"
        ),
        // Scripted peer process for the multi-process tests (produce, consume, crash, corrupt).
        .executableTarget(
            name: "RingBusTestPeer",
            dependencies: ["RingBus", "CRingBus", "PeerAllocCounter"],
            path: "Sources/RingBusTestPeer"
        ),
        // Counts heap allocations in the test peer (interposes malloc and friends; peer only).
        .target(
            name: "PeerAllocCounter",
            path: "Sources/PeerAllocCounter"
        ),
        .testTarget(
            name: "CRingBusTests",
            dependencies: ["CRingBus", "RingBus"],
            path: "Tests/CRingBusTests"
        ),
        .testTarget(
            name: "RingBusTests",
            dependencies: [
                "RingBus",
                .product(name: "Logging", package: "swift-log"),
                .product(name: "MetricsTestKit", package: "swift-metrics"),
            ],
            path: "Tests/RingBusTests"
        ),
        .testTarget(
            name: "MultiProcessTests",
            dependencies: ["RingBus", "CRingBus"],
            path: "Tests/MultiProcessTests"
        ),
    ],
    cLanguageStandard: .gnu11
)
