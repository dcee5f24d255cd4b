"""Bootstrap without an agent: install and enroll an agent over SSH (asyncssh) or WinRM (pywinrm)."""
