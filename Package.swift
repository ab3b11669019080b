// swift-tools-version:6.1
import PackageDescription

// Linux only (POSIX shared memory with futexes, OFD locks, io_uring): building elsewhere stops at once
// with a clear error (Sources/RingBus/RingBus.swift and CSupport/CRingBus/include/CRingBus.h).
let package = Package(
    name: "RingBus",
    products: [
        .library(name: "RingBus", targets: ["RingBus"]),
        // The C shim and the benchmark support as products only for Benchmarks/ (the C path measured
        // beside the Swift one, pinned threads, the cache-line floor); they are not an API: applications
        // use RingBus.
        .library(name: "CRingBus", targets: ["CRingBus"]),
        .library(name: "RingBusBenchSupport", targets: ["RingBusBenchSupport"]),
        .executable(name: "ringbus", targets: ["RingBusCLI"]),
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
        // C11 shim: owns every byte of shared memory. Links nothing beyond libc.
        .target(
            name: "CRingBus",
            path: "CSupport/CRingBus",
            cSettings: [.define("_GNU_SOURCE")]
        ),
        // The io_uring probe (what this kernel and seccomp profile allow), the only code that includes
        // <liburing.h>: a target of its own so that only what uses it links liburing (today its test;
        // the journal later), not every user of the library.
        .target(
            name: "CRingBusUring",
            path: "CSupport/CRingBusUring",
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
        // Pinned threads, the one-cache-line floor, a spin hint: for benchmarks, `ringbus bench` and
        // `demo`, and tests; never in the library a user links.
        .target(
            name: "RingBusBenchSupport",
            dependencies: ["CRingBus"],
            path: "Sources/RingBusBenchSupport"
        ),
        .executableTarget(
            name: "RingBusCLI",
            dependencies: [
                "RingBus",
                "RingBusBenchSupport",
                .product(name: "ArgumentParser", package: "swift-argument-parser"),
                .product(name: "Histogram", package: "hdrhistogram-swift"),
            ],
            path: "Sources/RingBusCLI"
        ),
        // Test support, beside the tests (no product: a user's build never sees it). The scripted peer
        // process of the multi-process tests (produce, consume, crash, corrupt); `swift test` builds it.
        .executableTarget(
            name: "RingBusTestPeer",
            dependencies: ["RingBus", "CRingBus", "PeerAllocCounter"],
            path: "Tests/Support/RingBusTestPeer"
        ),
        // Counts heap allocations in the test peer (interposes malloc and friends; peer only).
        .target(
            name: "PeerAllocCounter",
            path: "Tests/Support/PeerAllocCounter"
        ),
        .testTarget(
            name: "CRingBusTests",
            dependencies: ["CRingBus", "CRingBusUring", "RingBus"],
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
