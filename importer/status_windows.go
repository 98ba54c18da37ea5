//go:build windows

package importer

import "syscall"

// processQueryLimitedInformation is PROCESS_QUERY_LIMITED_INFORMATION, the least right that
// reads a process's exit code.
const processQueryLimitedInformation = 0x1000

// stillActive is the exit code Windows reports for a process that has not ended (STILL_ACTIVE).
const stillActive = 259

// processAlive reports whether a process with this id is running.
func processAlive(pid int) bool {
	h, err := syscall.OpenProcess(processQueryLimitedInformation, false, uint32(pid))
	if err != nil {
		// Access denied means the process exists (another user's); anything else, that it does not.
		return err == syscall.ERROR_ACCESS_DENIED
	}
	defer syscall.CloseHandle(h)
	var code uint32
	if err := syscall.GetExitCodeProcess(h, &code); err != nil {
		return true
	}
	return code == stillActive
}
