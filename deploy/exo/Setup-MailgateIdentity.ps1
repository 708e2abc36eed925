#Requires -Version 7.0
<#
.SYNOPSIS
    Lets mailgate's managed identity send mail through Microsoft Graph as a chosen set of mailboxes only.

.DESCRIPTION
    The steps of "Granting workload identities least-privilege mailbox access via Microsoft Graph", with
    parameters, in either of Exchange Online's two models:

      -Model AccessPolicy  Grant the tenant-wide Graph Mail.Send application permission, then constrain it with an
                           Application Access Policy (RestrictAccess) scoped to a mail-enabled security group.
                           Microsoft calls these legacy: "Don't create new App Access Policies".
      -Model Rbac          RBAC for Applications: a service principal pointer in Exchange, a management scope
                           selecting the mailboxes, and an "Application Mail.Send" role assignment on that scope.
                           The Entra grant is NOT given (RBAC grants add up with it: an app holding it could still
                           send as anyone); pass -GrantEntraMailSend only if you mean that.

    Messages over Graph's 4 MB request limit go through drafts, which need Mail.ReadWrite as well; mailgate uses
    that path only with MAILGATE_LARGE_MESSAGES=true. Pass -GrantMailReadWrite to grant it, scoped exactly as
    Mail.Send: with -Model AccessPolicy the Entra Mail.ReadWrite permission, which the same access policy
    constrains (an access policy covers every Exchange permission of the app); with -Model Rbac an
    "Application Mail.ReadWrite" role assignment on the same management scope, and no Entra grant. Without the switch
    Mail.ReadWrite is never granted: it lets its holder read mail, which Mail.Send alone does not.

    Changes take effect slowly: more than an hour for access policies, 30 minutes to 2 hours for RBAC. The Test-
    step at the end answers from the directory at once; Graph may still disagree until propagation completes.

.EXAMPLE
    ./Setup-MailgateIdentity.ps1 -Model Rbac -ServicePrincipalObjectId 15ca046b-ee0f-426e-858e-949b5f826596 `
        -GroupAddress dl-graph-scope@contoso.test -GroupName 'DL Graph Scope mailgate' `
        -Mailboxes notifications@contoso.test -TestMailbox notifications@contoso.test

.EXAMPLE
    # Also for messages over 4 MB (mailgate with MAILGATE_LARGE_MESSAGES=true):
    ./Setup-MailgateIdentity.ps1 -Model Rbac -ServicePrincipalObjectId 15ca046b-ee0f-426e-858e-949b5f826596 `
        -GroupAddress dl-graph-scope@contoso.test -GroupName 'DL Graph Scope mailgate' `
        -Mailboxes notifications@contoso.test -GrantMailReadWrite
#>
[CmdletBinding(SupportsShouldProcess, DefaultParameterSetName = 'ById')]
param(
    [Parameter(Mandatory)] [ValidateSet('AccessPolicy', 'Rbac')] [string] $Model,
    # mailgate's managed identity: its Object (principal) ID (main.bicep's output appPrincipalId) ...
    [Parameter(Mandatory, ParameterSetName = 'ById')] [guid] $ServicePrincipalObjectId,
    # ... or its name (main.bicep's output appIdentityName, e.g. id-mailgate), looked up in Entra ID.
    [Parameter(Mandatory, ParameterSetName = 'ByName')] [string] $IdentityName,
    [Parameter(Mandatory)] [string] $GroupAddress,
    [Parameter(Mandatory)] [string] $GroupName,
    [Parameter(Mandatory)] [string[]] $Mailboxes,
    [string] $TestMailbox = $Mailboxes[0],
    [string] $Description = "Restrict mailgate to members of $GroupAddress",
    # Rbac only: the scope selects recipients by this attribute (set on each mailbox below).
    [string] $ScopeName = 'mailgate-senders',
    [ValidateRange(1, 15)] [int] $CustomAttribute = 1,
    [string] $ScopeValue = 'mailgate',
    [switch] $GrantEntraMailSend,
    # Also grant Mail.ReadWrite, scoped like Mail.Send, for messages over 4 MB (MAILGATE_LARGE_MESSAGES=true).
    [switch] $GrantMailReadWrite
)

$ErrorActionPreference = 'Stop'
Set-StrictMode -Version Latest

# 1. The managed identity's app id (Exchange names apps by app id, not object id).
Connect-MgGraph -Scopes 'AppRoleAssignment.ReadWrite.All', 'Application.Read.All' -NoWelcome
if ($PSCmdlet.ParameterSetName -eq 'ByName') {
    $found = @(Get-MgServicePrincipal -Filter "displayName eq '$($IdentityName -replace "'", "''")'" -All)
    if ($found.Count -ne 1) {
        throw "$($found.Count) service principals are named '$IdentityName'; pass -ServicePrincipalObjectId"
    }
    $sp = $found[0]
} else {
    $sp = Get-MgServicePrincipal -ServicePrincipalId $ServicePrincipalObjectId
}
$graph = Get-MgServicePrincipal -Filter "AppId eq '00000003-0000-0000-c000-000000000000'"

function Grant-GraphAppRole {
    # An advanced function, so -WhatIf on the script reaches its ShouldProcess.
    [CmdletBinding(SupportsShouldProcess)]
    param([Parameter(Mandatory)] [string] $Value)
    $role = $graph.AppRoles | Where-Object Value -eq $Value
    $held = Get-MgServicePrincipalAppRoleAssignment -ServicePrincipalId $sp.Id |
        Where-Object { $_.ResourceId -eq $graph.Id -and $_.AppRoleId -eq $role.Id }
    if (-not $held -and $PSCmdlet.ShouldProcess($sp.DisplayName, "grant Graph $Value")) {
        New-MgServicePrincipalAppRoleAssignment -ServicePrincipalId $sp.Id -BodyParameter @{
            principalId = $sp.Id; resourceId = $graph.Id; appRoleId = $role.Id
        } | Format-List
    }
}

# 2. The tenant-wide Graph application permissions (what access policies then constrain). Under RBAC they are
#    not given: an Entra grant would add up with the scoped role and reach every mailbox.
if ($Model -eq 'AccessPolicy' -or $GrantEntraMailSend) {
    Grant-GraphAppRole 'Mail.Send'
}
if ($Model -eq 'AccessPolicy' -and $GrantMailReadWrite) {
    Grant-GraphAppRole 'Mail.ReadWrite'
}

Connect-ExchangeOnline -ShowBanner:$false

# 3. The mail-enabled security group holding the mailboxes (shared mailboxes cannot be scopes themselves).
$group = Get-DistributionGroup -Identity $GroupAddress -ErrorAction SilentlyContinue
if (-not $group -and $PSCmdlet.ShouldProcess($GroupAddress, 'create mail-enabled security group')) {
    $group = New-DistributionGroup -Type Security -Name $GroupName -DisplayName $GroupName `
        -Alias ($GroupName -replace '[^A-Za-z0-9]', '') -PrimarySmtpAddress $GroupAddress
}
$present = @(Get-DistributionGroupMember -Identity $GroupAddress -ResultSize Unlimited |
    ForEach-Object { "$($_.PrimarySmtpAddress)".ToLowerInvariant() })
foreach ($mailbox in $Mailboxes) {
    if ($present -notcontains $mailbox.ToLowerInvariant() -and $PSCmdlet.ShouldProcess($mailbox, "add to $GroupAddress")) {
        Add-DistributionGroupMember -Identity $GroupAddress -Member $mailbox
    }
}

if ($Model -eq 'AccessPolicy') {
    # 4a. RestrictAccess: the app reaches only members of the group, with every Exchange permission it holds
    #     (Mail.Send, and Mail.ReadWrite when granted).
    if ($PSCmdlet.ShouldProcess($GroupAddress, "New-ApplicationAccessPolicy for $($sp.AppId)")) {
        New-ApplicationAccessPolicy -AppId $sp.AppId -PolicyScopeGroupId $GroupAddress -AccessRight RestrictAccess `
            -Description $Description
    }
    # 5a. Expect Granted for a member, Denied for anyone else.
    Test-ApplicationAccessPolicy -Identity $TestMailbox -AppId $sp.AppId | Format-List AppId, Mailbox, AccessCheckResult
} else {
    # 4b. RBAC for Applications: a pointer to the service principal, a scope, and the role on that scope.
    $attribute = "CustomAttribute$CustomAttribute"
    foreach ($mailbox in $Mailboxes) {
        if ($PSCmdlet.ShouldProcess($mailbox, "set $attribute = $ScopeValue")) {
            $settings = @{ Identity = $mailbox; $attribute = $ScopeValue }
            Set-Mailbox @settings
        }
    }
    if (-not (Get-ServicePrincipal -Identity $sp.Id -ErrorAction SilentlyContinue) -and
        $PSCmdlet.ShouldProcess($sp.DisplayName, 'New-ServicePrincipal')) {
        New-ServicePrincipal -AppId $sp.AppId -ObjectId $sp.Id -DisplayName $sp.DisplayName
    }
    $filter = "$attribute -eq '$($ScopeValue -replace "'", "''")'"
    if (-not (Get-ManagementScope -Identity $ScopeName -ErrorAction SilentlyContinue) -and
        $PSCmdlet.ShouldProcess($ScopeName, "New-ManagementScope $filter")) {
        New-ManagementScope -Name $ScopeName -RecipientRestrictionFilter $filter
    }
    if ($PSCmdlet.ShouldProcess($ScopeName, 'New-ManagementRoleAssignment Application Mail.Send')) {
        New-ManagementRoleAssignment -App $sp.AppId -Role 'Application Mail.Send' -CustomResourceScope $ScopeName
    }
    if ($GrantMailReadWrite -and
        $PSCmdlet.ShouldProcess($ScopeName, 'New-ManagementRoleAssignment Application Mail.ReadWrite')) {
        # The same scope as Mail.Send: drafts can be made and read only in the mailboxes mailgate may send as.
        New-ManagementRoleAssignment -App $sp.AppId -Role 'Application Mail.ReadWrite' -CustomResourceScope $ScopeName
    }
    # 5b. Expect InScope True for Application Mail.Send (and Mail.ReadWrite when granted) on the test mailbox.
    Test-ServicePrincipalAuthorization -Identity $sp.AppId -Resource $TestMailbox |
        Format-Table RoleName, GrantedPermissions, AllowedResourceScope, ScopeType, InScope
}

Write-Host 'Done. Exchange may take 30 minutes to 2 hours (RBAC) or more than an hour (access policies) to enforce this.'
Write-Host 'Then mirror it: ./Export-MailgateBundle.ps1, and mailgate sync import <bundle> --apply.'
