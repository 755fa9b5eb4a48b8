#include "fake_api.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cctype>
#include <cerrno>
#include <cstring>
#include <stdexcept>

namespace trellis::cli::testing {
namespace {

int bindLoopback(int& port, bool listen) {
  int fd = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (fd < 0) throw std::runtime_error("socket failed");
  sockaddr_in address{};
  address.sin_family = AF_INET;
  address.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  if (::bind(fd, reinterpret_cast<sockaddr*>(&address), sizeof address) != 0 ||
      (listen && ::listen(fd, 16) != 0)) {
    ::close(fd);
    throw std::runtime_error("bind/listen failed");
  }
  socklen_t length = sizeof address;
  ::getsockname(fd, reinterpret_cast<sockaddr*>(&address), &length);
  port = ntohs(address.sin_port);
  return fd;
}

std::string headerValue(const std::string& head, const std::string& name) {
  std::string lowerHead = head;
  for (char& c : lowerHead) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  size_t at = lowerHead.find("\r\n" + name + ":");
  if (at == std::string::npos) return {};
  size_t start = at + name.size() + 3;
  size_t end = head.find("\r\n", start);
  std::string value = head.substr(start, end - start);
  size_t first = value.find_first_not_of(' ');
  return first == std::string::npos ? std::string() : value.substr(first);
}

}  // namespace

FakeApi::FakeApi(Handler handler) : handler_(std::move(handler)) {
  listenFd_ = bindLoopback(port_, true);
  thread_ = std::thread([this] { serve(); });
}

FakeApi::~FakeApi() {
  ::shutdown(listenFd_, SHUT_RDWR);  // wakes the blocked accept()
  thread_.join();
  ::close(listenFd_);
}

std::vector<FakeRequest> FakeApi::requests() const {
  std::lock_guard<std::mutex> lock(mutex_);
  return requests_;
}

void FakeApi::serve() {
  while (true) {
    int fd = ::accept4(listenFd_, nullptr, nullptr, SOCK_CLOEXEC);
    if (fd < 0) {
      if (errno == EINTR) continue;
      return;
    }
    handle(fd);
    ::close(fd);
  }
}

void FakeApi::handle(int fd) {
  std::string data;
  char buffer[4096];
  size_t headEnd;
  while ((headEnd = data.find("\r\n\r\n")) == std::string::npos) {
    ssize_t n = ::recv(fd, buffer, sizeof buffer, 0);
    if (n <= 0) return;
    data.append(buffer, static_cast<size_t>(n));
  }
  std::string head = data.substr(0, headEnd);
  std::string lengthText = headerValue(head, "content-length");
  size_t length = lengthText.empty() ? 0 : std::stoul(lengthText);
  while (data.size() < headEnd + 4 + length) {
    ssize_t n = ::recv(fd, buffer, sizeof buffer, 0);
    if (n <= 0) return;
    data.append(buffer, static_cast<size_t>(n));
  }
  FakeRequest request;
  size_t space = head.find(' ');
  request.method = head.substr(0, space);
  request.target = head.substr(space + 1, head.find(' ', space + 1) - space - 1);
  request.authorization = headerValue(head, "authorization");
  request.body = data.substr(headEnd + 4, length);
  {
    std::lock_guard<std::mutex> lock(mutex_);
    requests_.push_back(request);
  }
  FakeReply reply = handler_(request);
  std::string response = "HTTP/1.1 " + std::to_string(reply.status) +
                         " X\r\nContent-Type: application/json\r\nContent-Length: " +
                         std::to_string(reply.body.size()) + "\r\nConnection: close\r\n\r\n" +
                         reply.body;
  size_t sent = 0;
  while (sent < response.size()) {
    ssize_t n = ::send(fd, response.data() + sent, response.size() - sent, MSG_NOSIGNAL);
    if (n <= 0) return;
    sent += static_cast<size_t>(n);
  }
}

RefusingPort::RefusingPort() {
  fd_ = bindLoopback(port_, false);
}

RefusingPort::~RefusingPort() {
  ::close(fd_);
}

}  // namespace trellis::cli::testing
