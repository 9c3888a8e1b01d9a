// rl/mpi/apex_mpi.hpp: the Ape-X transport over MPI (the optional DQN_MPI build), so the same
// actor and learner loops (rl/apex.hpp) run across processes and machines under mpirun.
//
// One communicator (a duplicate of MPI_COMM_WORLD, so nothing else in the process can match
// our messages) and one tag: per pair of ranks, MPI delivers messages in the order they were
// sent, which the protocol relies on (an actor's kDone after its last experience, the
// learner's kStop after its last weights). Sends are MPI_Isend from a copy the transport owns
// until the request completes; receives probe (MPI_Iprobe), then take the message whole.
// Nothing here blocks: the loops poll, so neither side can wait on the other in a cycle.
#pragma once

#include <deque>
#include <string>
#include <vector>

#include "rl/apex.hpp"

namespace dqn {

class MpiTransport : public Transport {
 public:
  // Calls MPI_Init_thread (funneled: one thread talks to MPI) unless MPI is already up.
  MpiTransport(int* argc, char*** argv);
  // Waits for nothing: MPI_Finalize needs every request complete, which the loops ensure.
  ~MpiTransport() override;
  int rank() const override { return rank_; }
  int size() const override { return size_; }
  void send(int to, std::string_view message) override;
  int pending_sends(int to) override;
  bool receive(int from, int& source, std::string& out) override;
  // Ends every rank of the job (a rank that failed): MPI_Abort.
  [[noreturn]] void abort(int code);
  // The host this rank runs on, for messages.
  std::string host() const;

 private:
  struct Pending;
  void progress();
  int rank_ = 0, size_ = 1;
  bool initialized_here_ = false;
  void* comm_ = nullptr;  // MPI_Comm, kept opaque so this header needs no mpi.h
  std::deque<Pending*> pending_;
};

// Whether this process was started by mpirun (an MPI launcher's environment is present).
bool launched_by_mpirun();

}  // namespace dqn
