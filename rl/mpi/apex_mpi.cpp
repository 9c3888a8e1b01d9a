// rl/mpi/apex_mpi.cpp: MpiTransport (rl/mpi/apex_mpi.hpp).
#include "rl/mpi/apex_mpi.hpp"

#include <mpi.h>

#include <cstdlib>

#include "core/error.hpp"

namespace dqn {
namespace {

constexpr int kTag = 7;

MPI_Comm& comm_of(void* p) {
  return *static_cast<MPI_Comm*>(p);
}

void check(int rc, const char* what) {
  if (rc == MPI_SUCCESS) return;
  char text[MPI_MAX_ERROR_STRING];
  int len = 0;
  MPI_Error_string(rc, text, &len);
  throw_error("MPI: ", what, " failed: ", std::string(text, static_cast<std::size_t>(len)));
}

}  // namespace

struct MpiTransport::Pending {
  int to;
  std::string bytes;
  MPI_Request request;
};

bool launched_by_mpirun() {
  for (const char* name : {"OMPI_COMM_WORLD_SIZE", "PMI_SIZE", "PMIX_RANK"})
    if (std::getenv(name) != nullptr) return true;
  return false;
}

MpiTransport::MpiTransport(int* argc, char*** argv) {
  int up = 0;
  MPI_Initialized(&up);
  if (!up) {
    int provided = 0;
    check(MPI_Init_thread(argc, argv, MPI_THREAD_FUNNELED, &provided), "MPI_Init_thread");
    initialized_here_ = true;
  }
  comm_ = new MPI_Comm;
  check(MPI_Comm_dup(MPI_COMM_WORLD, &comm_of(comm_)), "MPI_Comm_dup");
  // Errors come back as codes (and become dqn::Error), not as an abort inside MPI.
  MPI_Comm_set_errhandler(comm_of(comm_), MPI_ERRORS_RETURN);
  MPI_Comm_rank(comm_of(comm_), &rank_);
  MPI_Comm_size(comm_of(comm_), &size_);
}

MpiTransport::~MpiTransport() {
  for (Pending* p : pending_) {
    MPI_Request_free(&p->request);
    delete p;
  }
  MPI_Comm_free(&comm_of(comm_));
  delete static_cast<MPI_Comm*>(comm_);
  if (initialized_here_) MPI_Finalize();
}

void MpiTransport::send(int to, std::string_view message) {
  DQN_CHECK(message.size() <= static_cast<std::size_t>(INT32_MAX), "MPI: a message of ",
            message.size(), " bytes is over MPI's 2 GiB count limit");
  auto* p = new Pending{to, std::string(message), MPI_REQUEST_NULL};
  const int rc = MPI_Isend(p->bytes.data(), static_cast<int>(p->bytes.size()), MPI_BYTE, to, kTag,
                           comm_of(comm_), &p->request);
  if (rc != MPI_SUCCESS) delete p;
  check(rc, "MPI_Isend");
  pending_.push_back(p);
}

void MpiTransport::progress() {
  for (auto it = pending_.begin(); it != pending_.end();) {
    int done = 0;
    check(MPI_Test(&(*it)->request, &done, MPI_STATUS_IGNORE), "MPI_Test");
    if (done) {
      delete *it;
      it = pending_.erase(it);
    } else {
      ++it;
    }
  }
}

int MpiTransport::pending_sends(int to) {
  progress();
  int n = 0;
  for (const Pending* p : pending_) n += p->to == to;
  return n;
}

bool MpiTransport::receive(int from, int& source, std::string& out) {
  progress();
  int flag = 0;
  MPI_Status status;
  check(MPI_Iprobe(from < 0 ? MPI_ANY_SOURCE : from, kTag, comm_of(comm_), &flag, &status),
        "MPI_Iprobe");
  if (!flag) return false;
  int count = 0;
  check(MPI_Get_count(&status, MPI_BYTE, &count), "MPI_Get_count");
  out.resize(static_cast<std::size_t>(count));
  source = status.MPI_SOURCE;
  check(MPI_Recv(out.data(), count, MPI_BYTE, source, kTag, comm_of(comm_), MPI_STATUS_IGNORE),
        "MPI_Recv");
  return true;
}

void MpiTransport::abort(int code) {
  MPI_Abort(MPI_COMM_WORLD, code);
  std::abort();  // MPI_Abort does not return
}

std::string MpiTransport::host() const {
  char name[MPI_MAX_PROCESSOR_NAME];
  int len = 0;
  MPI_Get_processor_name(name, &len);
  return std::string(name, static_cast<std::size_t>(len));
}

}  // namespace dqn
