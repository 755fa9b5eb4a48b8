#pragma once
// A real gRPC C++ ADS server (sync API) that the test scripts: it records every request with
// the stream it came on and sends the responses the test hands it. Only tests link libgrpc.

#include <grpcpp/grpcpp.h>

#include <chrono>
#include <condition_variable>
#include <deque>
#include <memory>
#include <mutex>
#include <optional>
#include <string>

#include "envoy/service/discovery/v3/ads.grpc.pb.h"

namespace trellis::xds::client::test {

class GrpcAdsServer {
 public:
  struct Received {
    int stream;  // 1 for the first stream the server saw, 2 for the next...
    envoy::service::discovery::v3::DiscoveryRequest request;
  };

  /// Listens on 127.0.0.1:`port` (0 = any free port), in plaintext unless `credentials`.
  explicit GrpcAdsServer(int port = 0,
                         std::shared_ptr<grpc::ServerCredentials> credentials = nullptr) {
    grpc::ServerBuilder builder;
    builder.AddListeningPort("127.0.0.1:" + std::to_string(port),
                             credentials ? credentials : grpc::InsecureServerCredentials(), &port_);
    builder.RegisterService(&service_);
    server_ = builder.BuildAndStart();
  }
  ~GrpcAdsServer() { shutdown(); }

  bool ok() const { return server_ != nullptr && port_ > 0; }
  int port() const { return port_; }
  std::string address() const { return "127.0.0.1:" + std::to_string(port_); }

  /// Ends every call at once (the client sees its stream reset) and stops listening.
  void shutdown() {
    if (server_ == nullptr) return;
    server_->Shutdown(std::chrono::system_clock::now());
    server_->Wait();
    server_.reset();
  }

  /// Removes and returns the first request of `typeUrl` not yet taken; waits up to `timeout`.
  std::optional<Received> next(std::string_view typeUrl,
                               std::chrono::milliseconds timeout = std::chrono::seconds(10)) {
    std::unique_lock lock(service_.mutex);
    std::optional<Received> found;
    service_.changed.wait_for(lock, timeout, [&] {
      for (auto it = service_.requests.begin(); it != service_.requests.end(); ++it) {
        if (it->request.type_url() == typeUrl) {
          found = std::move(*it);
          service_.requests.erase(it);
          return true;
        }
      }
      return false;
    });
    return found;
  }

  /// Requests received and not taken by next().
  size_t pending() {
    std::lock_guard lock(service_.mutex);
    return service_.requests.size();
  }

  /// Writes `response` on the open stream; false if there is none or the write failed.
  bool send(const envoy::service::discovery::v3::DiscoveryResponse& response) {
    std::lock_guard lock(service_.mutex);
    return service_.current != nullptr && service_.current->Write(response);
  }

  /// Waits until `n` streams have been opened in total.
  bool waitForStreams(int n, std::chrono::milliseconds timeout = std::chrono::seconds(10)) {
    std::unique_lock lock(service_.mutex);
    return service_.changed.wait_for(lock, timeout, [&] { return service_.streams >= n; });
  }
  int streams() {
    std::lock_guard lock(service_.mutex);
    return service_.streams;
  }

 private:
  using Stream = grpc::ServerReaderWriter<envoy::service::discovery::v3::DiscoveryResponse,
                                          envoy::service::discovery::v3::DiscoveryRequest>;

  struct Service final : envoy::service::discovery::v3::AggregatedDiscoveryService::Service {
    grpc::Status StreamAggregatedResources(grpc::ServerContext* /*context*/,
                                           Stream* stream) override {
      int index;
      {
        std::lock_guard lock(mutex);
        index = ++streams;
        current = stream;
        changed.notify_all();
      }
      envoy::service::discovery::v3::DiscoveryRequest request;
      while (stream->Read(&request)) {
        std::lock_guard lock(mutex);
        requests.push_back({index, request});
        changed.notify_all();
      }
      std::lock_guard lock(mutex);
      if (current == stream) current = nullptr;
      changed.notify_all();
      return grpc::Status::OK;
    }

    std::mutex mutex;
    std::condition_variable changed;
    std::deque<Received> requests;
    Stream* current = nullptr;
    int streams = 0;
  };

  Service service_;
  std::unique_ptr<grpc::Server> server_;
  int port_ = 0;
};

}  // namespace trellis::xds::client::test
