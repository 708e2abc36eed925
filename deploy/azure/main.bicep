// mailgate on Azure Container Apps: a user-assigned managed identity that sends mail through Graph, Azure Database
// for PostgreSQL Flexible Server with Microsoft Entra authentication on a private network, a Container Apps job
// that runs the migrations as the owner role, and OpenTelemetry export to Application Insights.
// Deploy into a resource group (deploy/README.md, "Azure Container Apps"):
//   az deployment group create -g rg-mailgate -f deploy/azure/main.bicep -p deploy/azure/main.bicepparam
// Then grant the app identity (output appPrincipalId) Graph Mail.Send in Exchange with deploy/exo/.
targetScope = 'resourceGroup'

@description('Azure region of every resource.')
param location string = resourceGroup().location

@description('Prefix of resource names.')
@minLength(3)
@maxLength(12)
param name string = 'mailgate'

@description('mailgate\'s container image (deploy/Dockerfile), e.g. crcontoso.azurecr.io/mailgate:0.1.0.')
param image string

@description('An Azure Container Registry in this resource group holding the image; both identities get AcrPull on it. Empty: a public image.')
param registryName string = ''

@description('How mailgate signs in to Postgres. entra: as its managed identity, with an Entra token for password (MAILGATE_DB_AUTH=entra; deploy/README.md). password: with URLs kept in Key Vault.')
@allowed([
  'entra'
  'password'
])
param databaseAuth string = 'entra'

@description('The Postgres server\'s Microsoft Entra administrator (a group of database administrators, usually): object id.')
param postgresAdminObjectId string

@description('The Microsoft Entra administrator\'s display name.')
param postgresAdminName string

@description('The Microsoft Entra administrator\'s kind.')
@allowed([
  'Group'
  'User'
  'ServicePrincipal'
])
param postgresAdminType string = 'Group'

@description('databaseAuth password only: the server\'s password administrator, who creates the two mailgate roles.')
param postgresPasswordAdminLogin string = 'pgadmin'

@description('databaseAuth password only: that administrator\'s password.')
@secure()
param postgresPasswordAdminPassword string = ''

@description('databaseAuth password only: a Key Vault in this resource group (RBAC authorization) holding the secrets mailgate-database-url (service role) and mailgate-migration-database-url (owner role).')
param keyVaultName string = ''

@description('Name of the Postgres server; its host is <name>.postgres.database.azure.com, which the database URLs name.')
@minLength(3)
@maxLength(63)
param postgresServerName string = 'psql-${name}-${uniqueString(resourceGroup().id)}'

@description('PostgreSQL major version.')
@allowed([
  '16'
  '17'
])
param postgresVersion string = '16'

@description('Compute of the Postgres server.')
param postgresSku object = {
  name: 'Standard_D2ds_v5'
  tier: 'GeneralPurpose'
}

@description('Storage of the Postgres server, in GB.')
param postgresStorageGB int = 64

@description('Days of point-in-time restore.')
@minValue(7)
@maxValue(35)
param backupRetentionDays int = 14

@description('Keep backups in the paired region too.')
param geoRedundantBackup bool = true

@description('A standby in another zone, with automatic failover.')
param zoneRedundantHighAvailability bool = true

@description('Address space of the virtual network mailgate and Postgres share.')
param vnetAddressPrefix string = '10.40.0.0/16'

@description('Subnet of the Container Apps environment (at least /27, delegated to Microsoft.App/environments).')
param appsSubnetPrefix string = '10.40.0.0/23'

@description('Subnet of the Postgres server (delegated to Microsoft.DBforPostgreSQL/flexibleServers).')
param postgresSubnetPrefix string = '10.40.2.0/24'

@description('true: mailgate is reachable only from the virtual network (and networks peered with it).')
param internalOnly bool = true

@description('Tenant whose callers present Entra ID tokens (MAILGATE_ENTRA_TENANT_ID).')
param callerTenantId string = tenant().tenantId

@description('Audiences of callers\' tokens, e.g. mailgate\'s app registration\'s App ID URI and client id (MAILGATE_ENTRA_AUDIENCES). Empty: API keys only.')
param callerAudiences array = []

@description('Replicas: at least two, so that a restart or a zone outage leaves one serving.')
@minValue(1)
param minReplicas int = 2

@description('At most this many replicas; they share Postgres and nothing else.')
param maxReplicas int = 6

@description('Tags on every resource.')
param tags object = {}

var passwordAuth = databaseAuth == 'password'
var databaseName = 'mailgate'
// Built-in role definitions.
var acrPullRole = subscriptionResourceId('Microsoft.Authorization/roleDefinitions', '7f951dda-4ed3-4680-a7ca-43fe172d538d')
var keyVaultSecretsUserRole = subscriptionResourceId('Microsoft.Authorization/roleDefinitions', '4633458b-17de-408a-b874-0445c86b69e6')

// The identity that sends mail: Exchange scopes it to the allowlist's mailboxes (deploy/exo/).
resource appIdentity 'Microsoft.ManagedIdentity/userAssignedIdentities@2023-01-31' = {
  name: 'id-${name}'
  location: location
  tags: tags
}

// The identity that migrates: it owns the database and holds no Graph permission.
resource migrateIdentity 'Microsoft.ManagedIdentity/userAssignedIdentities@2023-01-31' = {
  name: 'id-${name}-migrate'
  location: location
  tags: tags
}

resource registry 'Microsoft.ContainerRegistry/registries@2023-07-01' existing = if (!empty(registryName)) {
  name: registryName
}

resource appAcrPull 'Microsoft.Authorization/roleAssignments@2022-04-01' = if (!empty(registryName)) {
  name: guid(registry.id, appIdentity.id, acrPullRole)
  scope: registry
  properties: {
    principalId: appIdentity.properties.principalId
    principalType: 'ServicePrincipal'
    roleDefinitionId: acrPullRole
  }
}

resource migrateAcrPull 'Microsoft.Authorization/roleAssignments@2022-04-01' = if (!empty(registryName)) {
  name: guid(registry.id, migrateIdentity.id, acrPullRole)
  scope: registry
  properties: {
    principalId: migrateIdentity.properties.principalId
    principalType: 'ServicePrincipal'
    roleDefinitionId: acrPullRole
  }
}

// Password mode: each identity may read its own database URL and no other secret.
resource vault 'Microsoft.KeyVault/vaults@2023-07-01' existing = if (passwordAuth) {
  name: keyVaultName
}

resource serviceUrlSecret 'Microsoft.KeyVault/vaults/secrets@2023-07-01' existing = if (passwordAuth) {
  parent: vault
  name: 'mailgate-database-url'
}

resource ownerUrlSecret 'Microsoft.KeyVault/vaults/secrets@2023-07-01' existing = if (passwordAuth) {
  parent: vault
  name: 'mailgate-migration-database-url'
}

resource appSecretReader 'Microsoft.Authorization/roleAssignments@2022-04-01' = if (passwordAuth) {
  name: guid(serviceUrlSecret.id, appIdentity.id, keyVaultSecretsUserRole)
  scope: serviceUrlSecret
  properties: {
    principalId: appIdentity.properties.principalId
    principalType: 'ServicePrincipal'
    roleDefinitionId: keyVaultSecretsUserRole
  }
}

resource migrateSecretReader 'Microsoft.Authorization/roleAssignments@2022-04-01' = if (passwordAuth) {
  name: guid(ownerUrlSecret.id, migrateIdentity.id, keyVaultSecretsUserRole)
  scope: ownerUrlSecret
  properties: {
    principalId: migrateIdentity.properties.principalId
    principalType: 'ServicePrincipal'
    roleDefinitionId: keyVaultSecretsUserRole
  }
}

resource logs 'Microsoft.OperationalInsights/workspaces@2023-09-01' = {
  name: 'log-${name}'
  location: location
  tags: tags
  properties: {
    sku: {
      name: 'PerGB2018'
    }
    retentionInDays: 90
  }
}

resource appInsights 'Microsoft.Insights/components@2020-02-02' = {
  name: 'appi-${name}'
  location: location
  tags: tags
  kind: 'web'
  properties: {
    Application_Type: 'web'
    WorkspaceResourceId: logs.id
  }
}

resource vnet 'Microsoft.Network/virtualNetworks@2024-05-01' = {
  name: 'vnet-${name}'
  location: location
  tags: tags
  properties: {
    addressSpace: {
      addressPrefixes: [
        vnetAddressPrefix
      ]
    }
    subnets: [
      {
        name: 'snet-apps'
        properties: {
          addressPrefix: appsSubnetPrefix
          delegations: [
            {
              name: 'containerapps'
              properties: {
                serviceName: 'Microsoft.App/environments'
              }
            }
          ]
        }
      }
      {
        name: 'snet-postgres'
        properties: {
          addressPrefix: postgresSubnetPrefix
          delegations: [
            {
              name: 'postgres'
              properties: {
                serviceName: 'Microsoft.DBforPostgreSQL/flexibleServers'
              }
            }
          ]
        }
      }
    ]
  }
}

// Postgres answers on the virtual network only, under a name this private zone resolves.
resource postgresDns 'Microsoft.Network/privateDnsZones@2024-06-01' = {
  name: 'psql-${name}.private.postgres.database.azure.com'
  location: 'global'
  tags: tags
}

resource postgresDnsLink 'Microsoft.Network/privateDnsZones/virtualNetworkLinks@2024-06-01' = {
  parent: postgresDns
  name: 'vnet-${name}'
  location: 'global'
  tags: tags
  properties: {
    registrationEnabled: false
    virtualNetwork: {
      id: vnet.id
    }
  }
}

resource postgres 'Microsoft.DBforPostgreSQL/flexibleServers@2024-08-01' = {
  name: postgresServerName
  location: location
  tags: tags
  sku: postgresSku
  properties: {
    version: postgresVersion
    authConfig: {
      activeDirectoryAuth: 'Enabled'
      passwordAuth: passwordAuth ? 'Enabled' : 'Disabled'
      tenantId: tenant().tenantId
    }
    administratorLogin: passwordAuth ? postgresPasswordAdminLogin : null
    administratorLoginPassword: passwordAuth ? postgresPasswordAdminPassword : null
    storage: {
      storageSizeGB: postgresStorageGB
      autoGrow: 'Enabled'
    }
    backup: {
      backupRetentionDays: backupRetentionDays
      geoRedundantBackup: geoRedundantBackup ? 'Enabled' : 'Disabled'
    }
    highAvailability: {
      mode: zoneRedundantHighAvailability ? 'ZoneRedundant' : 'Disabled'
    }
    network: {
      delegatedSubnetResourceId: vnet.properties.subnets[1].id
      privateDnsZoneArmResourceId: postgresDns.id
      publicNetworkAccess: 'Disabled'
    }
  }
  dependsOn: [
    postgresDnsLink
  ]
}

resource postgresAdmin 'Microsoft.DBforPostgreSQL/flexibleServers/administrators@2024-08-01' = {
  parent: postgres
  name: postgresAdminObjectId
  properties: {
    principalName: postgresAdminName
    principalType: postgresAdminType
    tenantId: tenant().tenantId
  }
}

resource database 'Microsoft.DBforPostgreSQL/flexibleServers/databases@2024-08-01' = {
  parent: postgres
  name: databaseName
  properties: {
    charset: 'UTF8'
    collation: 'en_US.utf8'
  }
  dependsOn: [
    postgresAdmin
  ]
}

resource environment 'Microsoft.App/managedEnvironments@2024-10-02-preview' = {
  name: 'cae-${name}'
  location: location
  tags: tags
  properties: {
    vnetConfiguration: {
      infrastructureSubnetId: vnet.properties.subnets[0].id
      internal: internalOnly
    }
    workloadProfiles: [
      {
        name: 'Consumption'
        workloadProfileType: 'Consumption'
      }
    ]
    zoneRedundant: true
    appLogsConfiguration: {
      destination: 'log-analytics'
      logAnalyticsConfiguration: {
        customerId: logs.properties.customerId
        sharedKey: logs.listKeys().primarySharedKey
      }
    }
    // The managed OpenTelemetry agent: it sets OTEL_EXPORTER_OTLP_ENDPOINT in every container and forwards traces
    // and logs to Application Insights (which takes no OTLP metrics; /metrics serves those).
    appInsightsConfiguration: {
      connectionString: appInsights.properties.ConnectionString
    }
    openTelemetryConfiguration: {
      tracesConfiguration: {
        destinations: [
          'appInsights'
        ]
      }
      logsConfiguration: {
        destinations: [
          'appInsights'
        ]
      }
    }
  }
}

var host = postgres.properties.fullyQualifiedDomainName
var registries = empty(registryName) ? [] : [
  {
    server: registry.properties.loginServer
    identity: appIdentity.id
  }
]
var callerEnv = empty(callerAudiences) ? [] : [
  {
    name: 'MAILGATE_ENTRA_TENANT_ID'
    value: callerTenantId
  }
  {
    name: 'MAILGATE_ENTRA_AUDIENCES'
    value: join(callerAudiences, ',')
  }
]
// entra: the role is the identity's name and the password an Entra token its credential fetches (coming).
// password: the whole URL is a Key Vault secret, resolved by the platform with the same identity.
var appDatabaseEnv = passwordAuth ? [
  {
    name: 'DATABASE_URL'
    secretRef: 'database-url'
  }
] : [
  {
    name: 'DATABASE_URL'
    value: 'postgres://${appIdentity.name}@${host}:5432/${databaseName}?sslmode=verify-full'
  }
  {
    name: 'MAILGATE_DB_AUTH'
    value: 'entra'
  }
]
var migrateDatabaseEnv = passwordAuth ? [
  {
    name: 'DATABASE_URL'
    secretRef: 'database-url'
  }
] : [
  {
    name: 'DATABASE_URL'
    value: 'postgres://${migrateIdentity.name}@${host}:5432/${databaseName}?sslmode=verify-full'
  }
  {
    name: 'MAILGATE_DB_AUTH'
    value: 'entra'
  }
]

resource app 'Microsoft.App/containerApps@2024-03-01' = {
  name: 'ca-${name}'
  location: location
  tags: tags
  identity: {
    type: 'UserAssigned'
    userAssignedIdentities: {
      '${appIdentity.id}': {}
    }
  }
  properties: {
    environmentId: environment.id
    workloadProfileName: 'Consumption'
    configuration: {
      activeRevisionsMode: 'Single'
      ingress: {
        // Within the environment's network; with internalOnly that network is the virtual network.
        external: true
        targetPort: 8080
        transport: 'http'
        allowInsecure: false
      }
      registries: registries
      secrets: passwordAuth ? [
        {
          name: 'database-url'
          keyVaultUrl: '${vault.properties.vaultUri}secrets/mailgate-database-url'
          identity: appIdentity.id
        }
      ] : []
    }
    template: {
      containers: [
        {
          name: 'mailgate'
          image: image
          args: [
            'serve'
          ]
          env: concat(appDatabaseEnv, callerEnv, [
            {
              name: 'MAILGATE_CREDENTIAL'
              value: 'managed-identity'
            }
            {
              name: 'MAILGATE_MANAGED_IDENTITY_CLIENT_ID'
              value: appIdentity.properties.clientId
            }
            {
              // The platform's ingress is the only way in, and it appends the client's address.
              name: 'MAILGATE_CLIENT_ADDRESS_HEADER'
              value: 'X-Forwarded-For'
            }
            {
              name: 'OTEL_SERVICE_NAME'
              value: 'mailgate'
            }
          ])
          resources: {
            cpu: json('0.5')
            memory: '1Gi'
          }
          probes: [
            {
              type: 'Startup'
              httpGet: {
                path: '/healthz'
                port: 8080
              }
              periodSeconds: 2
              failureThreshold: 30
            }
            {
              type: 'Liveness'
              httpGet: {
                path: '/healthz'
                port: 8080
              }
              periodSeconds: 10
              timeoutSeconds: 3
              failureThreshold: 6
            }
            {
              type: 'Readiness'
              httpGet: {
                path: '/readyz'
                port: 8080
              }
              periodSeconds: 10
              timeoutSeconds: 9
              failureThreshold: 3
            }
          ]
        }
      ]
      scale: {
        minReplicas: minReplicas
        maxReplicas: maxReplicas
        rules: [
          {
            name: 'http'
            http: {
              metadata: {
                concurrentRequests: '100'
              }
            }
          }
        ]
      }
    }
  }
  dependsOn: [
    appAcrPull
    appSecretReader
    database
  ]
}

// Run before every new image reaches the app: az containerapp job start -g <rg> -n <migrationJobName>.
resource migrateJob 'Microsoft.App/jobs@2024-03-01' = {
  name: 'caj-${name}-migrate'
  location: location
  tags: tags
  identity: {
    type: 'UserAssigned'
    userAssignedIdentities: {
      '${migrateIdentity.id}': {}
    }
  }
  properties: {
    environmentId: environment.id
    workloadProfileName: 'Consumption'
    configuration: {
      triggerType: 'Manual'
      replicaTimeout: 900
      replicaRetryLimit: 1
      manualTriggerConfig: {
        parallelism: 1
        replicaCompletionCount: 1
      }
      registries: empty(registryName) ? [] : [
        {
          server: registry.properties.loginServer
          identity: migrateIdentity.id
        }
      ]
      secrets: passwordAuth ? [
        {
          name: 'database-url'
          keyVaultUrl: '${vault.properties.vaultUri}secrets/mailgate-migration-database-url'
          identity: migrateIdentity.id
        }
      ] : []
    }
    template: {
      containers: [
        {
          name: 'migrate'
          image: image
          args: [
            'migrate'
          ]
          env: concat(migrateDatabaseEnv, [
            {
              name: 'MAILGATE_CREDENTIAL'
              value: 'managed-identity'
            }
            {
              name: 'MAILGATE_MANAGED_IDENTITY_CLIENT_ID'
              value: migrateIdentity.properties.clientId
            }
          ])
          resources: {
            cpu: json('0.25')
            memory: '0.5Gi'
          }
        }
      ]
    }
  }
  dependsOn: [
    migrateAcrPull
    migrateSecretReader
    database
  ]
}

@description('Object (principal) id of the sending identity: Setup-MailgateIdentity.ps1 -ServicePrincipalObjectId.')
output appPrincipalId string = appIdentity.properties.principalId

@description('Client id of the sending identity.')
output appClientId string = appIdentity.properties.clientId

@description('Name of the sending identity: its Postgres role under Entra authentication.')
output appIdentityName string = appIdentity.name

@description('Name of the migrating identity: the database owner\'s Postgres role under Entra authentication.')
output migrateIdentityName string = migrateIdentity.name

@description('mailgate\'s address.')
output url string = 'https://${app.properties.configuration.ingress.fqdn}'

@description('The Postgres server\'s host name (private).')
output postgresHost string = host

@description('Start it before each rollout: az containerapp job start.')
output migrationJobName string = migrateJob.name
