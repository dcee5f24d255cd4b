# Install (or reinstall) and start an IIS Fleet agent on Windows; it enrolls with a controller.
# The controller's WinRM bootstrap uploads this script and runs it; it also works by hand:
#   powershell -ExecutionPolicy Bypass -File install-agent.ps1 -Controller https://ctl:55540 `
#       -JoinToken <token> -Address 10.0.0.5 -Name web1 [-Wheel C:\path\iisfleet-0.1.0-py3-none-any.whl]
# python.exe does not speak the service control protocol, so the agent runs under NSSM when nssm.exe is on
# PATH (a real Windows service) and otherwise as a scheduled task at startup as SYSTEM that restarts on failure.
param(
    [Parameter(Mandatory = $true)][string]$Controller,
    [Parameter(Mandatory = $true)][string]$JoinToken,
    [Parameter(Mandatory = $true)][string]$Address,
    [Parameter(Mandatory = $true)][string]$Name,
    [int]$Port = 55539,
    [string]$InstallDir = "C:\ProgramData\IisFleet\agent",
    [string]$Wheel = "",
    [string]$Python = "",
    [string]$BasePython = "py",
    [ValidateSet("auto", "nssm", "scheduled-task")][string]$Service = "auto"
)
$ErrorActionPreference = "Stop"
$Unit = "iisfleet-agent-$Name"
New-Item -ItemType Directory -Force -Path "$InstallDir\state", "$InstallDir\log" | Out-Null

if ($Wheel) {
    $Py = "$InstallDir\venv\Scripts\python.exe"
    if (-not (Test-Path $Py)) {
        Write-Output "creating venv $InstallDir\venv"
        if ($BasePython -eq "py") { & py -3 -m venv "$InstallDir\venv" } else {
            & $BasePython -m venv "$InstallDir\venv"
        }
        if ($LASTEXITCODE -ne 0) { throw "creating the venv failed ($LASTEXITCODE)" }
    }
    Write-Output "installing $Wheel"
    & $Py -m pip install --quiet --disable-pip-version-check --upgrade $Wheel
    if ($LASTEXITCODE -ne 0) { throw "pip install failed ($LASTEXITCODE)" }
} else {
    $Py = $Python
}
& $Py -c "import agent.cli, shared.cli"
if ($LASTEXITCODE -ne 0) { throw "iisfleet is not importable by $Py" }

# The token goes into a file only SYSTEM and Administrators read, not onto the service's command line.
$TokenFile = "$InstallDir\join-token"
Set-Content -Path $TokenFile -Value $JoinToken -NoNewline -Encoding ascii
& icacls.exe $TokenFile /inheritance:r /grant:r "*S-1-5-18:F" "*S-1-5-32-544:F" | Out-Null
$AgentArgs = @("-m", "shared.cli", "agent", "run", "--state-dir", "$InstallDir\state", "--address", $Address,
    "--port", "$Port", "--controller", $Controller, "--join-token-file", $TokenFile, "--name", $Name)
$ArgLine = ($AgentArgs | ForEach-Object { '"' + $_ + '"' }) -join " "

# A second bootstrap of the same agent replaces the running one.
$Nssm = Get-Command nssm.exe -ErrorAction SilentlyContinue
if (Get-Service -Name $Unit -ErrorAction SilentlyContinue) {
    if ($Nssm) { & nssm.exe stop $Unit | Out-Null; & nssm.exe remove $Unit confirm | Out-Null }
}
if (Get-ScheduledTask -TaskName $Unit -ErrorAction SilentlyContinue) {
    Stop-ScheduledTask -TaskName $Unit
    Unregister-ScheduledTask -TaskName $Unit -Confirm:$false
}

if ($Service -eq "auto") { $Service = if ($Nssm) { "nssm" } else { "scheduled-task" } }
if ($Service -eq "nssm") {
    if (-not $Nssm) { throw "nssm.exe is not on PATH" }
    & nssm.exe install $Unit $Py $ArgLine | Out-Null
    & nssm.exe set $Unit AppDirectory $InstallDir | Out-Null
    & nssm.exe set $Unit AppStdout "$InstallDir\log\agent.log" | Out-Null
    & nssm.exe set $Unit AppStderr "$InstallDir\log\agent.log" | Out-Null
    & nssm.exe set $Unit Start SERVICE_AUTO_START | Out-Null
    & nssm.exe start $Unit | Out-Null
    Write-Output "started service $Unit"
} else {
    $Action = New-ScheduledTaskAction -Execute $Py -Argument $ArgLine -WorkingDirectory $InstallDir
    $Trigger = New-ScheduledTaskTrigger -AtStartup
    $Principal = New-ScheduledTaskPrincipal -UserId "SYSTEM" -LogonType ServiceAccount -RunLevel Highest
    $Settings = New-ScheduledTaskSettingsSet -RestartCount 999 -RestartInterval (New-TimeSpan -Minutes 1) `
        -ExecutionTimeLimit ([TimeSpan]::Zero) -AllowStartIfOnBatteries -DontStopIfGoingOnBatteries
    Register-ScheduledTask -TaskName $Unit -Action $Action -Trigger $Trigger -Principal $Principal `
        -Settings $Settings -Force | Out-Null
    Start-ScheduledTask -TaskName $Unit
    Write-Output "started scheduled task $Unit"
}
